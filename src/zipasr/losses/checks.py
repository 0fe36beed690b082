"""Argument checks shared by the loss functions: shapes, dtypes, boundaries and guardrails.

Each check raises ValueError naming the argument, the offending value and how to fix it. Checks
that need values (lengths, boundaries) read a few small tensors back to the host once per call.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
from torch import Tensor

REDUCTIONS = ("none", "mean", "sum")


def float32_region(x: Tensor) -> AbstractContextManager[None]:
    """Autocast off on x's device, so the recursions run in the dtype we cast to."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def at_least_float32(x: Tensor, name: str) -> Tensor:
    """x as float32, or float64 if it already is (half and bfloat16 are widened)."""
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    return x if x.dtype == torch.float64 else x.float()


def check_reduction(reduction: str | None) -> str:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction={reduction!r} is not one of {REDUCTIONS}")
    return reduction


def check_regular(rnnt_type: str, delay_penalty: float) -> None:
    """Only k2's default transducer topology is implemented."""
    if rnnt_type != "regular":
        raise ValueError(f"rnnt_type={rnnt_type!r} is not supported; only 'regular' is")
    if delay_penalty != 0.0:
        raise ValueError(f"delay_penalty={delay_penalty} is not supported; pass 0.0")


def check_symbols(symbols: Tensor, batch: int, num_symbols: int, vocab: int) -> Tensor:
    """symbols (B, S) of integer ids in [0, V), returned as int64."""
    if symbols.dtype.is_floating_point or symbols.dtype == torch.bool or symbols.is_complex():
        raise ValueError(f"symbols must be an integer tensor of token ids, got {symbols.dtype}")
    if tuple(symbols.shape) != (batch, num_symbols):
        raise ValueError(
            f"symbols has shape {tuple(symbols.shape)}, expected (B, S) = ({batch}, "
            f"{num_symbols}) to match the other inputs"
        )
    if symbols.numel() > 0:
        low, high = int(symbols.min()), int(symbols.max())
        if low < 0 or high >= vocab:
            raise ValueError(
                f"symbols must lie in [0, {vocab}) (the vocabulary), found values in "
                f"[{low}, {high}]; pad with any valid id such as the blank, not -1"
            )
    return symbols.long()


def check_termination_symbol(termination_symbol: int, vocab: int) -> None:
    if not 0 <= termination_symbol < vocab:
        raise ValueError(f"termination_symbol={termination_symbol} must lie in [0, {vocab})")


def full_boundary(batch: int, num_symbols: int, num_frames: int, device: torch.device) -> Tensor:
    """(B, 4) boundary covering the whole padded lattice, k2's default."""
    row = torch.tensor([0, 0, num_symbols, num_frames], dtype=torch.int64, device=device)
    return row.expand(batch, 4).contiguous()


def boundary_from_lengths(frame_lengths: Tensor, target_lengths: Tensor) -> Tensor:
    """k2's boundary rows ``[0, 0, U_b, T_b]`` from per-utterance lengths.

    Args:
        frame_lengths: (B,) number of valid frames T_b of each utterance.
        target_lengths: (B,) number of tokens U_b of each utterance.

    Returns:
        (B, 4) int64 on frame_lengths' device.
    """
    if frame_lengths.ndim != 1 or frame_lengths.shape != target_lengths.shape:
        raise ValueError(
            f"frame_lengths {tuple(frame_lengths.shape)} and target_lengths "
            f"{tuple(target_lengths.shape)} must both be (B,)"
        )
    zeros = torch.zeros_like(frame_lengths, dtype=torch.int64)
    return torch.stack(
        [zeros, zeros, target_lengths.to(frame_lengths.device).long(), frame_lengths.long()],
        dim=1,
    )


def check_rnnt_boundary(
    boundary: Tensor | None, batch: int, num_symbols: int, num_frames: int, device: torch.device
) -> tuple[Tensor, list[list[int]]]:
    """Validate (or build) a boundary for a transducer loss; return it and its rows on the host.

    Every utterance needs at least one frame: the last step of every RNN-T path is the blank on
    the final frame, so with T_b = 0 no path exists and the loss would be infinite.
    """
    if boundary is None:
        boundary = full_boundary(batch, num_symbols, num_frames, device)
    if tuple(boundary.shape) != (batch, 4) or boundary.dtype != torch.int64:
        raise ValueError(
            f"boundary must be an int64 tensor of shape (B, 4) = ({batch}, 4) with rows "
            f"[begin_symbol, begin_frame, end_symbol, end_frame]; got {boundary.dtype} "
            f"{tuple(boundary.shape)} (boundary_from_lengths builds one)"
        )
    rows = boundary.tolist()
    for b, (s0, t0, s1, t1) in enumerate(rows):
        if not (0 <= s0 <= s1 <= num_symbols and 0 <= t0 <= t1 <= num_frames):
            raise ValueError(
                f"boundary[{b}] = {[s0, t0, s1, t1]} is outside the padded lattice: need "
                f"0 <= begin_symbol <= end_symbol <= S={num_symbols} and "
                f"0 <= begin_frame <= end_frame <= T={num_frames}"
            )
        if t1 - t0 < 1:
            raise ValueError(
                f"utterance {b} has T={t1 - t0} frames and U={s1 - s0} tokens: an RNN-T needs "
                "at least one frame (every path ends with a blank on the last frame), so its "
                "loss would be infinite; drop utterances with no encoder frames"
            )
    return boundary.to(device), rows


class NonFiniteLossError(ValueError):
    """A loss came out infinite or NaN (diverged weights, inf/NaN inputs, or a lattice with no
    complete path); raised before it can reach the optimizer. A ValueError, so callers that
    catch those keep working; training code can catch this one to treat a step as diverged."""


def raise_if_not_finite(scores: Tensor, rows: list[list[int]], what: str, hint: str) -> None:
    """Guardrail after the recursion: an infinite or NaN loss must not reach the optimizer.
    Raises :class:`NonFiniteLossError`."""
    finite = torch.isfinite(scores).tolist()
    for b, ok in enumerate(finite):
        if not ok:
            s0, t0, s1, t1 = rows[b]
            raise NonFiniteLossError(
                f"{what} of utterance {b} (T={t1 - t0} frames, U={s1 - s0} tokens) is "
                f"{float(-scores[b])}: {hint}"
            )


def reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    return loss
