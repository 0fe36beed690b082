"""RNN-T losses against a float64 double-loop reference, gradcheck, autocast and reductions."""

from __future__ import annotations

import pytest
import torch

from tests.losses.brute_force import full_nll, lattice_nll, logaddexp, pruned_nll, random_case
from zipasr.losses import (
    boundary_from_lengths,
    do_rnnt_pruning,
    get_rnnt_prune_ranges,
    lattice_score,
    rnnt_loss,
    rnnt_loss_pruned,
    rnnt_loss_simple,
    rnnt_loss_smoothed,
)

SHAPES = [(1, 1, 0, 2), (2, 5, 3, 7), (3, 17, 12, 11), (4, 40, 12, 30), (4, 33, 7, 25)]


def reference_losses(case: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.tensor(
        [
            full_nll(
                case["logits"][b],
                case["symbols"][b, : int(case["target_lengths"][b])].tolist(),
                int(case["frame_lengths"][b]),
                blank=0,
            )
            for b in range(case["logits"].shape[0])
        ],
        dtype=torch.float64,
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_full_loss_matches_double_loop(shape):
    case = random_case(torch.Generator().manual_seed(sum(shape)), *shape)
    boundary = boundary_from_lengths(case["frame_lengths"], case["target_lengths"])
    expected = reference_losses(case)
    for dtype, rtol in ((torch.float32, 1e-6), (torch.float64, 1e-12)):
        loss = rnnt_loss(
            case["logits"].to(dtype), case["symbols"], 0, boundary=boundary, reduction="none"
        )
        assert loss.dtype == dtype
        torch.testing.assert_close(loss.double(), expected, rtol=rtol, atol=0.0)


@pytest.mark.parametrize("shape", SHAPES[1:])
def test_pruned_loss_with_full_band_equals_full_loss(shape):
    case = random_case(torch.Generator().manual_seed(7 + sum(shape)), *shape)
    boundary = boundary_from_lengths(case["frame_lengths"], case["target_lengths"])
    _, (px_grad, py_grad) = rnnt_loss_smoothed(
        case["lm"], case["am"], case["symbols"], 0, boundary=boundary, return_grad=True
    )
    tokens = case["symbols"].shape[1]
    for s_range in (tokens + 1, tokens + 5):
        ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, s_range)
        assert ranges.shape[2] == tokens + 1 and bool((ranges[:, :, 0] == 0).all())
        logits = case["logits"].gather(
            2, ranges.unsqueeze(3).expand(-1, -1, -1, case["logits"].shape[3])
        )
        pruned = rnnt_loss_pruned(logits, case["symbols"], ranges, 0, boundary, reduction="none")
        full = rnnt_loss(case["logits"], case["symbols"], 0, boundary, reduction="none")
        torch.testing.assert_close(pruned, full, rtol=1e-6, atol=0.0)


def test_pruned_loss_matches_double_loop_on_a_narrow_band():
    case = random_case(torch.Generator().manual_seed(3), 4, 40, 12, 30)
    boundary = boundary_from_lengths(case["frame_lengths"], case["target_lengths"])
    _, (px_grad, py_grad) = rnnt_loss_smoothed(
        case["lm"], case["am"], case["symbols"], 0, 0.25, 0.0, boundary, return_grad=True
    )
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, 3)
    am, lm = do_rnnt_pruning(case["am"], case["lm"], ranges)
    logits = torch.tanh(am + lm) * 4.0
    loss = rnnt_loss_pruned(logits, case["symbols"], ranges, 0, boundary, reduction="none")
    for b in range(4):
        frames, tokens = int(case["frame_lengths"][b]), int(case["target_lengths"][b])
        expected = pruned_nll(
            logits[b],
            ranges[b, :, 0].tolist(),
            case["symbols"][b, :tokens].tolist(),
            frames,
            blank=0,
        )
        assert loss[b].item() == pytest.approx(expected, rel=1e-6)


def test_simple_loss_is_the_full_loss_of_the_summing_joiner():
    case = random_case(torch.Generator().manual_seed(11), 4, 23, 9, 17)
    boundary = boundary_from_lengths(case["frame_lengths"], case["target_lengths"])
    am, lm = case["am"].double(), case["lm"].double()
    logits = am[:, :, None] + lm[:, None]
    full = rnnt_loss(logits, case["symbols"], 0, boundary, reduction="none")
    simple = rnnt_loss_simple(lm, am, case["symbols"], 0, boundary, reduction="none")
    smoothed = rnnt_loss_smoothed(lm, am, case["symbols"], 0, 0.0, 0.0, boundary, reduction="none")
    torch.testing.assert_close(simple, full, rtol=1e-12, atol=0.0)
    torch.testing.assert_close(smoothed, full, rtol=1e-12, atol=0.0)


def test_smoothed_loss_mixes_three_distributions():
    """lm_only_scale 1 scores the tokens with the LM alone: frames only add blank terms."""
    case = random_case(torch.Generator().manual_seed(5), 2, 9, 4, 6)
    boundary = boundary_from_lengths(case["frame_lengths"], case["target_lengths"])
    am, lm = case["am"].double(), case["lm"].double()
    loss = rnnt_loss_smoothed(lm, am, case["symbols"], 0, 1.0, 0.0, boundary, reduction="none")
    lm_logp = torch.log_softmax(lm, dim=-1)
    for b in range(2):
        frames, tokens = int(case["frame_lengths"][b]), int(case["target_lengths"][b])
        table = lm_logp[b].tolist()
        symbols = case["symbols"][b, :tokens].tolist()
        expected = lattice_nll(lambda t, u, k, table=table: table[u][k], symbols, frames, 0)
        assert loss[b].item() == pytest.approx(expected, rel=1e-10)


def test_gradcheck_full_smoothed_and_pruned():
    gen = torch.Generator().manual_seed(2)
    case = random_case(gen, 2, 4, 3, 5)
    boundary = boundary_from_lengths(case["frame_lengths"], case["target_lengths"])
    symbols = case["symbols"]
    logits = case["logits"].double().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: rnnt_loss(x, symbols, 0, boundary, reduction="none"), (logits,)
    )
    am = case["am"].double().requires_grad_()
    lm = case["lm"].double().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda a, m: rnnt_loss_smoothed(m, a, symbols, 0, 0.25, 0.1, boundary, reduction="sum"),
        (am, lm),
    )
    _, (px_grad, py_grad) = rnnt_loss_smoothed(
        lm, am, symbols, 0, boundary=boundary, return_grad=True
    )
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, 2)
    pruned = torch.randn(2, 4, 2, 5, generator=gen, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda x: rnnt_loss_pruned(x, symbols, ranges, 0, boundary, reduction="mean"), (pruned,)
    )


def test_occupations_are_probabilities_of_steps():
    """Every path takes exactly one blank step per frame and one step per token."""
    case = random_case(torch.Generator().manual_seed(8), 3, 14, 6, 9)
    boundary = boundary_from_lengths(case["frame_lengths"], case["target_lengths"])
    _, (px_grad, py_grad) = rnnt_loss_smoothed(
        case["lm"], case["am"], case["symbols"], 0, boundary=boundary, return_grad=True
    )
    for b in range(3):
        frames, tokens = int(case["frame_lengths"][b]), int(case["target_lengths"][b])
        torch.testing.assert_close(py_grad[b, :, :frames].sum(0), torch.ones(frames))
        torch.testing.assert_close(px_grad[b, :tokens].sum(1), torch.ones(tokens))
        assert float(py_grad[b, :, frames:].abs().sum()) == 0.0
        assert float(px_grad[b, tokens:].abs().sum() + px_grad[b, :, frames:].abs().sum()) == 0


def test_lattice_score_with_begin_offsets():
    gen = torch.Generator().manual_seed(9)
    px = torch.randn(2, 5, 8, generator=gen, dtype=torch.float64)
    py = torch.randn(2, 6, 7, generator=gen, dtype=torch.float64)
    boundary = torch.tensor([[1, 2, 4, 6], [0, 0, 5, 7]])
    score, _, _ = lattice_score(px, py, boundary)
    for b, (s0, t0, s1, t1) in enumerate(boundary.tolist()):
        alpha = {(s0, t0): 0.0}
        for s in range(s0, s1 + 1):
            for t in range(t0, t1 + 1):
                if (s, t) != (s0, t0):
                    a = alpha[(s - 1, t)] + px[b, s - 1, t].item() if s > s0 else float("-inf")
                    c = alpha[(s, t - 1)] + py[b, s, t - 1].item() if t > t0 else float("-inf")
                    alpha[(s, t)] = logaddexp(a, c)
        assert score[b].item() == pytest.approx(alpha[(s1, t1)], rel=1e-12)


def test_reductions():
    case = random_case(torch.Generator().manual_seed(4), 3, 6, 2, 5)
    args = (case["logits"], case["symbols"], 0)
    per_utt = rnnt_loss(*args, reduction="none")
    assert per_utt.shape == (3,)
    torch.testing.assert_close(rnnt_loss(*args, reduction="sum"), per_utt.sum())
    torch.testing.assert_close(rnnt_loss(*args, reduction="mean"), per_utt.mean())
    torch.testing.assert_close(rnnt_loss(*args), per_utt.mean())  # k2's default


def test_autocast_bfloat16_computes_in_float32():
    case = random_case(torch.Generator().manual_seed(6), 2, 12, 4, 10)
    boundary = boundary_from_lengths(case["frame_lengths"], case["target_lengths"])
    logits, am, lm, symbols = case["logits"], case["am"], case["lm"], case["symbols"]

    def run(x_logits, x_am, x_lm):
        simple, (px_grad, py_grad) = rnnt_loss_smoothed(
            x_lm, x_am, symbols, 0, 0.25, 0.0, boundary, reduction="none", return_grad=True
        )
        ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, 3)
        band = x_logits.gather(2, ranges.unsqueeze(3).expand(-1, -1, -1, x_logits.shape[3]))
        pruned = rnnt_loss_pruned(band, symbols, ranges, 0, boundary, reduction="none")
        full = rnnt_loss(x_logits, symbols, 0, boundary, reduction="none")
        return simple, pruned, full

    expected = run(logits, am, lm)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = run(logits, am, lm)
    for got, want in zip(under_autocast, expected):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=0.0, atol=0.0)
    # bfloat16 inputs are widened, not computed in bfloat16.
    low = [x.bfloat16() for x in (logits, am, lm)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        widened = run(*low)
    for got, want in zip(widened, run(*[x.float() for x in low])):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=0.0, atol=0.0)
