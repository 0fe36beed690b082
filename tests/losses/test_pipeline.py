"""pruned_rnnt_losses: the k2-style call sequence of icefall's model, from lengths."""

from __future__ import annotations

import torch

from tests.losses.brute_force import random_case
from zipasr.losses import (
    boundary_from_lengths,
    do_rnnt_pruning,
    get_rnnt_prune_ranges,
    pruned_rnnt_losses,
    rnnt_loss_pruned,
    rnnt_loss_smoothed,
)


def test_equals_the_step_by_step_k2_calls():
    gen = torch.Generator().manual_seed(0)
    case = random_case(gen, 3, 20, 6, 12)
    enc_proj, dec_proj = torch.randn(3, 20, 16, generator=gen), torch.randn(3, 7, 16, generator=gen)
    output = torch.nn.Linear(16, 12)

    def join(am: torch.Tensor, lm: torch.Tensor) -> torch.Tensor:
        return output(torch.tanh(am + lm))

    losses = pruned_rnnt_losses(
        case["am"],
        case["lm"],
        enc_proj,
        dec_proj,
        join,
        case["symbols"],
        case["frame_lengths"],
        case["target_lengths"],
    )
    boundary = boundary_from_lengths(case["frame_lengths"], case["target_lengths"])
    simple, (px_grad, py_grad) = rnnt_loss_smoothed(
        case["lm"],
        case["am"],
        case["symbols"],
        0,
        0.25,
        0.0,
        boundary,
        reduction="sum",
        return_grad=True,
    )
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, 5)
    logits = join(*do_rnnt_pruning(enc_proj, dec_proj, ranges))
    pruned = rnnt_loss_pruned(logits, case["symbols"], ranges, 0, boundary, reduction="sum")
    assert torch.equal(losses.ranges, ranges)
    torch.testing.assert_close(losses.simple, simple, rtol=0.0, atol=0.0)
    torch.testing.assert_close(losses.pruned, pruned, rtol=0.0, atol=0.0)
    losses.pruned.backward()
    assert output.weight.grad is not None and bool(torch.isfinite(output.weight.grad).all())
