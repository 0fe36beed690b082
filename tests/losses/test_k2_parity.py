"""Parity with k2 (fast_rnnt 1.3) on recorded inputs: tools/make_loss_fixtures.py."""

from __future__ import annotations

import torch

from zipasr.losses import get_rnnt_prune_ranges, rnnt_loss, rnnt_loss_pruned, rnnt_loss_smoothed


def max_relative(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest difference relative to the largest reference magnitude."""
    return float((got - want).abs().max() / want.abs().max())


def test_simple_loss_occupations_and_ranges_match_k2(k2_reference):
    ref = k2_reference["simple"]
    am = ref["am"].clone().requires_grad_()
    lm = ref["lm"].clone().requires_grad_()
    loss, (px_grad, py_grad) = rnnt_loss_smoothed(
        lm=lm,
        am=am,
        symbols=ref["symbols"],
        termination_symbol=0,
        lm_only_scale=0.25,
        am_only_scale=0.0,
        boundary=ref["boundary"],
        reduction="none",
        return_grad=True,
    )
    torch.testing.assert_close(loss, ref["loss"], rtol=1e-5, atol=0.0)
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, ref["boundary"], 5)
    assert torch.equal(ranges, ref["ranges"])
    loss.sum().backward()
    # Occupations are accumulated in float64 here, in float32 by k2: ~1e-5 apart.
    assert max_relative(px_grad, ref["px_grad"]) < 5e-5
    assert max_relative(py_grad, ref["py_grad"]) < 5e-5
    assert max_relative(am.grad, ref["am_grad"]) < 5e-5
    assert max_relative(lm.grad, ref["lm_grad"]) < 5e-5


def test_pruned_loss_matches_k2(k2_reference):
    ref, simple = k2_reference["pruned"], k2_reference["simple"]
    logits = ref["logits"].clone().requires_grad_()
    loss = rnnt_loss_pruned(
        logits, simple["symbols"], simple["ranges"], 0, simple["boundary"], reduction="none"
    )
    torch.testing.assert_close(loss, ref["loss"], rtol=1e-5, atol=0.0)
    loss.sum().backward()
    assert max_relative(logits.grad, ref["grad"]) < 5e-5


def test_full_loss_matches_k2(k2_reference):
    ref = k2_reference["full"]
    logits = ref["logits"].clone().requires_grad_()
    loss = rnnt_loss(logits, ref["symbols"], 0, ref["boundary"], reduction="none")
    torch.testing.assert_close(loss, ref["loss"], rtol=1e-5, atol=0.0)
    loss.sum().backward()
    assert max_relative(logits.grad, ref["grad"]) < 5e-5
