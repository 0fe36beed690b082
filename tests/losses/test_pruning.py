"""Prune ranges: the band always holds a path; do_rnnt_pruning gathers the right nodes."""

from __future__ import annotations

import pytest
import torch

from tests.losses.brute_force import random_case
from zipasr.losses import (
    boundary_from_lengths,
    do_rnnt_pruning,
    get_rnnt_prune_ranges,
    rnnt_loss_smoothed,
)


@pytest.mark.parametrize("s_range", [2, 3, 5])
def test_ranges_start_at_zero_advance_slowly_and_reach_the_last_token(s_range):
    case = random_case(torch.Generator().manual_seed(s_range), 4, 30, 12, 20, scale=4.0)
    case["target_lengths"] = torch.minimum(case["target_lengths"], case["frame_lengths"])
    boundary = boundary_from_lengths(case["frame_lengths"], case["target_lengths"])
    _, (px_grad, py_grad) = rnnt_loss_smoothed(
        case["lm"], case["am"], case["symbols"], 0, boundary=boundary, return_grad=True
    )
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
    assert ranges.shape == (4, 30, s_range) and ranges.dtype == torch.int64
    assert torch.equal(ranges - ranges[:, :, :1], torch.arange(s_range).expand_as(ranges))
    start = ranges[:, :, 0]
    assert bool((start[:, 0] == 0).all())
    steps = start[:, 1:] - start[:, :-1]
    assert bool((steps >= 0).all()) and bool((steps <= s_range - 1).all())
    for b, (_, _, tokens, frames) in enumerate(boundary.tolist()):
        assert int(ranges[b, frames - 1, -1]) >= tokens >= int(ranges[b, frames - 1, 0])


def test_ranges_follow_the_alignment():
    """Scores forcing one token on every odd frame: each frame's band holds the path's nodes."""
    frames, vocab = 8, 5
    symbols = torch.tensor([[1, 2, 3, 4]])
    am = torch.full((1, frames, vocab), -10.0)
    am[0, 0::2, 0] = 10.0  # even frames: blank
    for u, t in enumerate(range(1, frames, 2)):
        am[0, t, symbols[0, u]] = 10.0  # odd frames: the next token, then the blank
        am[0, t, 0] = 9.0
    lm = torch.zeros(1, 5, vocab)
    boundary = torch.tensor([[0, 0, 4, frames]])
    _, (px_grad, py_grad) = rnnt_loss_smoothed(
        lm, am, symbols, 0, 0.0, 0.0, boundary, return_grad=True
    )
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, 2)
    for t in range(frames):
        nodes = {t // 2, (t + 1) // 2}  # odd frames emit a token: they visit two nodes
        assert nodes <= set(ranges[0, t].tolist()), (t, ranges[0, t])


def test_do_rnnt_pruning_gathers_decoder_rows_per_frame():
    gen = torch.Generator().manual_seed(0)
    am, lm = torch.randn(2, 6, 4, generator=gen), torch.randn(2, 5, 4, generator=gen)
    start = torch.tensor([[0, 0, 1, 2, 2, 2], [0, 1, 1, 1, 2, 2]])
    ranges = start.unsqueeze(2) + torch.arange(3)
    am_pruned, lm_pruned = do_rnnt_pruning(am, lm, ranges)
    assert am_pruned.shape == lm_pruned.shape == (2, 6, 3, 4)
    for b in range(2):
        for t in range(6):
            for k in range(3):
                assert torch.equal(am_pruned[b, t, k], am[b, t])
                assert torch.equal(lm_pruned[b, t, k], lm[b, int(ranges[b, t, k])])
