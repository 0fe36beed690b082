"""Inputs that would give an infinite loss, or are malformed, raise a ValueError that says why."""

from __future__ import annotations

import pytest
import torch

from zipasr.losses import (
    NonFiniteLossError,
    boundary_from_lengths,
    ctc_loss,
    get_rnnt_prune_ranges,
    rnnt_loss,
    rnnt_loss_pruned,
    rnnt_loss_smoothed,
)


def simple_inputs(frames: int = 6, tokens: int = 3, vocab: int = 5, batch: int = 2):
    gen = torch.Generator().manual_seed(0)
    return (
        torch.randn(batch, tokens + 1, vocab, generator=gen),
        torch.randn(batch, frames, vocab, generator=gen),
        torch.randint(1, vocab, (batch, tokens), generator=gen),
    )


def test_utterance_without_frames_is_rejected():
    lm, am, symbols = simple_inputs()
    boundary = boundary_from_lengths(torch.tensor([6, 0]), torch.tensor([3, 2]))
    with pytest.raises(ValueError, match=r"utterance 1 has T=0 frames and U=2 tokens"):
        rnnt_loss_smoothed(lm, am, symbols, 0, boundary=boundary)
    logits = am[:, :, None] + lm[:, None]
    with pytest.raises(ValueError, match=r"utterance 1 has T=0 frames"):
        rnnt_loss(logits, symbols, 0, boundary=boundary)


def test_too_many_tokens_for_the_prune_range_is_rejected():
    lm, am, symbols = simple_inputs(frames=6, tokens=9)
    # Utterance 1: 9 tokens on 2 frames; prune_range 5 covers at most 4 tokens per frame.
    boundary = boundary_from_lengths(torch.tensor([6, 2]), torch.tensor([9, 9]))
    _, (px_grad, py_grad) = rnnt_loss_smoothed(
        lm, am, symbols, 0, boundary=boundary, return_grad=True
    )
    with pytest.raises(ValueError, match=r"utterance 1 has T=2 frames and U=9 tokens.*>= 6"):
        get_rnnt_prune_ranges(px_grad, py_grad, boundary, 5)
    assert get_rnnt_prune_ranges(px_grad, py_grad, boundary, 6).shape == (2, 6, 6)


def test_band_without_a_complete_path_is_rejected():
    lm, am, symbols = simple_inputs(frames=4, tokens=3)
    boundary = boundary_from_lengths(torch.tensor([4, 4]), torch.tensor([3, 3]))
    ranges = torch.zeros(2, 4, 2, dtype=torch.int64) + torch.arange(2)  # never reaches token 3
    logits = torch.randn(2, 4, 2, 5)
    with pytest.raises(ValueError, match=r"pruned RNN-T loss of utterance 0 \(T=4 frames, U=3"):
        rnnt_loss_pruned(logits, symbols, ranges, 0, boundary)


def test_non_finite_logits_are_rejected():
    lm, am, symbols = simple_inputs()
    logits = am[:, :, None] + lm[:, None]
    logits[1, 0, 0, :] = float("nan")
    with pytest.raises(NonFiniteLossError, match=r"RNN-T loss of utterance 1 .* is nan"):
        rnnt_loss(logits, symbols, 0)
    assert issubclass(NonFiniteLossError, ValueError)  # callers catching ValueError still do


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a | {"symbols": a["symbols"].float()}, "symbols must be an integer tensor"),
        (lambda a: a | {"symbols": a["symbols"][:, :2]}, r"symbols has shape \(2, 2\)"),
        (lambda a: a | {"symbols": a["symbols"] * 0 - 1}, r"symbols must lie in \[0, 5\)"),
        (lambda a: a | {"logits": a["logits"][0]}, r"logits must be \(B, T, S\+1, V\)"),
        (lambda a: a | {"termination_symbol": 5}, r"termination_symbol=5 must lie in \[0, 5\)"),
        (lambda a: a | {"reduction": "avg"}, r"reduction='avg' is not one of"),
        (lambda a: a | {"rnnt_type": "modified"}, r"rnnt_type='modified' is not supported"),
        (lambda a: a | {"boundary": a["boundary"].int()}, "boundary must be an int64 tensor"),
        (
            lambda a: a | {"boundary": torch.tensor([[0, 0, 3, 7], [0, 0, 3, 6]])},
            r"boundary\[0\] = \[0, 0, 3, 7\] is outside the padded lattice",
        ),
        (lambda a: a | {"logits": a["logits"].long()}, "logits must be a floating-point"),
    ],
)
def test_malformed_full_loss_arguments(change, message):
    lm, am, symbols = simple_inputs()
    args = {
        "logits": am[:, :, None] + lm[:, None],
        "symbols": symbols,
        "termination_symbol": 0,
        "boundary": torch.tensor([[0, 0, 3, 6], [0, 0, 2, 5]]),
        "reduction": "sum",
    }
    with pytest.raises(ValueError, match=message):
        rnnt_loss(**change(args))


def test_malformed_pruned_arguments():
    lm, am, symbols = simple_inputs()
    logits = torch.randn(2, 6, 3, 5)
    ranges = torch.zeros(2, 6, 3, dtype=torch.int64) + torch.arange(3)
    with pytest.raises(ValueError, match=r"ranges must be int64 of shape \(B, T, R\)"):
        rnnt_loss_pruned(logits, symbols, ranges[:, :, :2], 0)
    with pytest.raises(ValueError, match="must be consecutive"):
        rnnt_loss_pruned(logits, symbols, ranges.flip(2), 0)
    with pytest.raises(ValueError, match=r"ranges must lie in \[0, S=3\]"):
        rnnt_loss_pruned(logits, symbols, ranges + 2, 0)
    with pytest.raises(ValueError, match="s_range=1 must be >= 2"):
        get_rnnt_prune_ranges(
            torch.zeros(2, 3, 7), torch.zeros(2, 4, 6), torch.zeros(2, 4).long(), 1
        )


def test_ctc_rejects_targets_longer_than_frames():
    log_probs = torch.randn(5, 2, 4).log_softmax(-1)
    targets = torch.tensor([[1, 2, 3], [1, 1, 2]])
    with pytest.raises(
        ValueError, match=r"utterance 1 has T=3 frames and U=3 tokens, but CTC needs 4"
    ):
        ctc_loss(log_probs, targets, torch.tensor([5, 3]), torch.tensor([3, 3]))
