"""Pruning bounds for the RNN-T lattice (k2's ``get_rnnt_prune_ranges`` / ``do_rnnt_pruning``).

Legend: B batch, T frames, S = U tokens, R = prune_range (k2's ``s_range``), J joiner dim.
The simple loss tells, for each frame, which symbol positions carry the alignment's probability
mass. Each frame keeps R consecutive positions ``start[b, t] + 0..R-1``; the starts are chosen to
hold the most blank occupation, then adjusted so that every band path is still possible:
``start[b, 0] = 0``, the starts never decrease, advance by at most R - 1 per frame, and the band
on the last frame ends at U_b. See section 3.2 of the Pruned RNN-T paper (arXiv:2206.13236).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _suffix_min(x: Tensor) -> Tensor:
    """Largest non-decreasing sequence below x along the last dim: ``min(x[t:])`` at each t."""
    return x.flip(-1).cummin(dim=-1).values.flip(-1)


def _make_reachable(start: Tensor, width: int) -> Tensor:
    """Lower the (B, T) starts so they begin at 0, never decrease and step by at most R - 1."""
    start = _suffix_min(start)
    # A bound on each step, start[t+1] - start[t] <= R - 1, is a monotonicity condition on
    # (R - 1) * t - start[t]; impose it the same way, with a floor of 0 at t = 0.
    slope = (width - 1) * torch.arange(start.shape[1], device=start.device)
    return slope - _suffix_min(slope - start).clamp(min=0)


def get_rnnt_prune_ranges(
    px_grad: Tensor, py_grad: Tensor, boundary: Tensor, s_range: int
) -> Tensor:
    """Symbol positions to keep on each frame, from the simple loss's occupation probabilities.

    Args:
        px_grad: (B, S, T+1) token-step occupations from ``rnnt_loss_smoothed(return_grad=True)``.
        py_grad: (B, S+1, T) blank-step occupations.
        boundary: (B, 4) int64 rows ``[0, 0, U_b, T_b]`` (begins must be 0).
        s_range: R, symbols kept per frame (icefall's prune_range, 5); at least 2. Values above
            S are lowered to S + 1 (nothing pruned).

    Returns:
        ranges: (B, T, R) int64, ``ranges[b, t] = start[b, t] + arange(R)``.

    Raises:
        ValueError: if an utterance has more tokens than R - 1 per frame can cover
            (U_b > (R - 1) * T_b): no band path could reach its last token. k2 silently widens
            R instead; here the caller chooses (filter the utterance or raise prune_range).
    """
    batch, num_s, num_t1 = px_grad.shape
    num_t = num_t1 - 1
    if px_grad.ndim != 3 or tuple(py_grad.shape) != (batch, num_s + 1, num_t):
        raise ValueError(
            f"px_grad {tuple(px_grad.shape)} and py_grad {tuple(py_grad.shape)} must be "
            "(B, S, T+1) and (B, S+1, T), as returned by rnnt_loss_smoothed(return_grad=True)"
        )
    if tuple(boundary.shape) != (batch, 4) or boundary.dtype != torch.int64:
        raise ValueError(f"boundary must be int64 (B, 4) = ({batch}, 4), got {boundary.shape}")
    if s_range < 2:
        raise ValueError(
            f"s_range={s_range} must be >= 2: a regular RNN-T band needs the current symbol "
            "and the next one to move at all"
        )
    width = min(s_range, num_s + 1)
    for b, (s0, t0, num_tokens, num_frames) in enumerate(boundary.tolist()):
        if s0 != 0 or t0 != 0:
            raise ValueError(f"boundary[{b}] begins at ({s0}, {t0}); pruning needs begins of 0")
        if num_frames < 1 or num_tokens > (width - 1) * num_frames:
            need = -(-num_tokens // max(num_frames, 1)) + 1
            raise ValueError(
                f"utterance {b} has T={num_frames} frames and U={num_tokens} tokens: with "
                f"prune_range={s_range} at most {(width - 1) * num_frames} tokens fit, so the "
                f"pruned loss would be infinite; filter it out or use prune_range >= {need}"
            )
    boundary = boundary.to(px_grad.device)

    # Score of the window starting at s: blank occupation of symbols s..s+R-1 on this frame,
    # minus the token occupation entering s from s - 1 (mass still moving into the window).
    windows = py_grad.unfold(1, width, 1).sum(dim=-1)  # (B, S+2-R, T)
    entering = torch.cat([px_grad.new_zeros(batch, 1, num_t1), px_grad], dim=1)
    score = windows - entering[:, : windows.shape[1], :num_t]
    start = score.argmax(dim=1)  # (B, T)

    # From each utterance's last frame on, the band must end exactly at U_b.
    frames = torch.arange(num_t, device=start.device).view(1, num_t)
    last_start = (boundary[:, 2] - width + 1).clamp(min=0).view(batch, 1)
    start = torch.where(frames < boundary[:, 3].view(batch, 1) - 1, start, last_start)
    start = _make_reachable(start, width)
    return start.unsqueeze(2) + torch.arange(width, device=start.device)


def do_rnnt_pruning(am: Tensor, lm: Tensor, ranges: Tensor) -> tuple[Tensor, Tensor]:
    """Pick the joiner inputs of the kept nodes.

    Args:
        am: (B, T, J) encoder side (``joiner.encoder_proj(encoder_out)``).
        lm: (B, S+1, J) decoder side (``joiner.decoder_proj(decoder_out)``).
        ranges: (B, T, R) from ``get_rnnt_prune_ranges``.

    Returns:
        ``(am_pruned, lm_pruned)``, both (B, T, R, J); am_pruned is a broadcast view.
    """
    if am.ndim != 3 or lm.ndim != 3 or ranges.ndim != 3:
        raise ValueError(
            f"am {tuple(am.shape)}, lm {tuple(lm.shape)} and ranges {tuple(ranges.shape)} must "
            "be (B, T, J), (B, S+1, J) and (B, T, R)"
        )
    batch, num_t, width = ranges.shape
    dim = lm.shape[2]
    if am.shape[:2] != (batch, num_t) or lm.shape[0] != batch or am.shape[2] != dim:
        raise ValueError(
            f"am {tuple(am.shape)}, lm {tuple(lm.shape)} and ranges {tuple(ranges.shape)} "
            "disagree on B, T or J"
        )
    am_pruned = am.unsqueeze(2).expand(batch, num_t, width, dim)
    index = ranges.reshape(batch, num_t * width, 1).expand(batch, num_t * width, dim)
    lm_pruned = lm.gather(1, index).view(batch, num_t, width, dim)
    return am_pruned, lm_pruned
