"""Log-sum over monotone paths through a 2-D lattice, vectorised along anti-diagonals.

This is the recursion behind every transducer loss in this package (k2 calls it the "mutual
information recursion"). With ``p`` of shape (B, S+1, T+1)::

    p[b, s_begin, t_begin] = 0
    p[b, s, t] = logaddexp(p[b, s-1, t] + px[b, s-1, t], p[b, s, t-1] + py[b, s, t-1])

and the score of utterance b is ``p[b, s_end, t_end]`` for its ``boundary`` row
``[s_begin, t_begin, s_end, t_end]``. ``px`` (B, S, T+1) scores a step along s (a symbol), ``py``
(B, S+1, T) a step along t (a blank, i.e. the next frame).

Every cell on an anti-diagonal ``d = s + t`` depends only on diagonal ``d - 1``, so the loop runs
over the S + T diagonals with one vectorised update over (B, S) each. The lattice is stored
"skewed": ``[d, b, j]`` holds cell ``(s, t) = (j - 1, d - (j - 1))`` in each utterance's local
coordinates (origin at its begin corner), with one always ``-inf`` guard column on each side so
the s - 1 and s + 1 neighbours are plain slices.

The gradient is computed in closed form from the forward (alpha) and backward (beta) scores: the
derivative of the score with respect to an edge weight is that edge's occupation probability,
``exp(alpha[source] + weight + beta[target] - score)``. These occupation probabilities are also
what the pruning bounds are computed from.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

_NEG_INF = float("-inf")


def _skew_indices(boundary: Tensor, num_s: int, num_t: int) -> tuple[Tensor, Tensor, Tensor]:
    """Global (s, t) of every skewed cell, and whether it lies inside the utterance's box.

    Returns s, t, inside, each (B, D, W) with D = num_s + num_t + 1 diagonals and W = num_s + 3
    columns, for a lattice of (num_s + 1, num_t + 1) cells per utterance.
    """
    device = boundary.device
    diag = torch.arange(num_s + num_t + 1, device=device).view(1, -1, 1)
    local_s = torch.arange(-1, num_s + 2, device=device).view(1, 1, -1)
    local_t = diag - local_s
    s_begin, t_begin, s_end, t_end = (boundary[:, k].view(-1, 1, 1) for k in range(4))
    inside = (
        (local_s >= 0)
        & (local_s <= s_end - s_begin)
        & (local_t >= 0)
        & (local_t <= t_end - t_begin)
    )
    return local_s + s_begin, local_t + t_begin, inside


def _gather_2d(x: Tensor, s: Tensor, t: Tensor, valid: Tensor, fill: float) -> Tensor:
    """``x[b, s, t]`` for index tensors (B, ...) where ``valid``, else ``fill``."""
    batch, _, width = x.shape
    s, t, valid = torch.broadcast_tensors(s, t, valid)
    if x.numel() == 0:  # no tokens (S = 0): every px edge is absent
        return x.new_full(s.shape, fill)
    flat = (s.clamp(0, x.shape[1] - 1) * width + t.clamp(0, width - 1)).reshape(batch, -1)
    out = x.reshape(batch, -1).gather(1, flat).view(s.shape)
    return out.masked_fill(~valid, fill)


def _edge_weights(px: Tensor, py: Tensor, boundary: Tensor) -> tuple[Tensor, Tensor]:
    """Skewed weights of the edges entering each cell: along s (from px) and along t (from py).

    Both are (D, B, W); edges that start or end outside the box are ``-inf``.
    """
    num_s, num_t = px.shape[1], py.shape[2]
    s, t, inside = _skew_indices(boundary, num_s, num_t)
    s_begin = boundary[:, 0].view(-1, 1, 1)
    t_begin = boundary[:, 1].view(-1, 1, 1)
    into_x = _gather_2d(px, s - 1, t, inside & (s > s_begin), _NEG_INF)
    into_y = _gather_2d(py, s, t - 1, inside & (t > t_begin), _NEG_INF)
    return into_x.transpose(0, 1).contiguous(), into_y.transpose(0, 1).contiguous()


def _end_diagonals(boundary: Tensor) -> Tensor:
    """(B,) index of the diagonal holding each utterance's end corner."""
    return boundary[:, 2] - boundary[:, 0] + boundary[:, 3] - boundary[:, 1]


def _forward_scores(into_x: Tensor, into_y: Tensor) -> Tensor:
    """alpha, skewed (D, B, W): log-sum of all paths from the begin corner to each cell."""
    alpha = torch.full_like(into_x, _NEG_INF)
    alpha[0, :, 1] = 0.0
    for d in range(1, alpha.shape[0]):
        prev = alpha[d - 1]
        alpha[d, :, 1:-1] = torch.logaddexp(
            prev[:, :-2] + into_x[d, :, 1:-1], prev[:, 1:-1] + into_y[d, :, 1:-1]
        )
    return alpha


def _backward_scores(into_x: Tensor, into_y: Tensor, boundary: Tensor) -> Tensor:
    """beta, skewed (D, B, W): log-sum of all paths from each cell to the end corner."""
    num_diag, batch, width = into_x.shape
    end_diag = _end_diagonals(boundary)
    end_col = (boundary[:, 2] - boundary[:, 0] + 1).view(batch, 1)
    cols = torch.arange(width, device=into_x.device).view(1, width)
    # 0 at each utterance's end corner, -inf elsewhere; merged in with a maximum (the recursion
    # itself gives -inf there, since no edge leaves the end corner inside the box).
    diags = torch.arange(num_diag, device=into_x.device).view(num_diag, 1, 1)
    end_mask = (diags == end_diag.view(1, batch, 1)) & (cols == end_col).unsqueeze(0)
    seeds = torch.full_like(into_x, _NEG_INF).masked_fill(end_mask, 0.0)
    beta = seeds.clone()
    for d in range(num_diag - 2, -1, -1):
        nxt = beta[d + 1]
        step = torch.logaddexp(
            nxt[:, 2:] + into_x[d + 1, :, 2:], nxt[:, 1:-1] + into_y[d + 1, :, 1:-1]
        )
        beta[d, :, 1:-1] = torch.maximum(step, seeds[d, :, 1:-1])
    return beta


def _occupations(
    into_x: Tensor, into_y: Tensor, alpha: Tensor, beta: Tensor, score: Tensor
) -> tuple[Tensor, Tensor]:
    """Skewed (D, B, W) occupation probabilities of the edges entering each cell."""
    total = score.view(1, -1, 1)
    prev = torch.full_like(alpha, _NEG_INF)
    prev[1:] = alpha[:-1]
    shifted = torch.full_like(alpha, _NEG_INF)
    shifted[:, :, 1:] = prev[:, :, :-1]
    occ_x = torch.exp(shifted + into_x + beta - total)
    occ_y = torch.exp(prev + into_y + beta - total)
    return occ_x, occ_y


def _unskew(occ: Tensor, boundary: Tensor, shape: tuple[int, ...], along_s: bool) -> Tensor:
    """Map skewed edge occupations back to the layout of px (along_s) or py."""
    batch, num_rows, num_cols = shape
    device = occ.device
    s = torch.arange(num_rows, device=device).view(1, -1, 1)
    t = torch.arange(num_cols, device=device).view(1, 1, -1)
    s_begin, t_begin = boundary[:, 0].view(-1, 1, 1), boundary[:, 1].view(-1, 1, 1)
    # The edge leaving (s, t) enters (s + 1, t) or (s, t + 1): diagonal d + 1.
    target_s = s - s_begin + (1 if along_s else 0)
    diag = (s - s_begin) + (t - t_begin) + 1
    valid = (s >= s_begin) & (t >= t_begin) & (diag < occ.shape[0])
    per_batch = occ.transpose(0, 1)  # (B, D, W)
    return _gather_2d(per_batch, diag, target_s + 1, valid, 0.0)


def _check_boundary(boundary: Tensor, num_s: int, num_t: int) -> None:
    for b, (s0, t0, s1, t1) in enumerate(boundary.tolist()):
        if not (0 <= s0 <= s1 <= num_s and 0 <= t0 <= t1 <= num_t):
            raise ValueError(
                f"boundary[{b}] = {[s0, t0, s1, t1]} must satisfy 0 <= s_begin <= s_end <= "
                f"{num_s} and 0 <= t_begin <= t_end <= {num_t} (the lattice's S and T)"
            )


class _LatticeScore(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, px: Tensor, py: Tensor, boundary: Tensor, need_occ: bool) -> Any:
        # Accumulate in float64: the lattice is (B, S+T, S) numbers, small next to the logits,
        # and the closed-form occupations exp(alpha + w + beta - score) would otherwise lose
        # about |score| * 6e-8 of relative precision in float32.
        dtype = px.dtype
        into_x, into_y = _edge_weights(px.double(), py.double(), boundary)
        alpha = _forward_scores(into_x, into_y)
        end = _end_diagonals(boundary)
        cols = (boundary[:, 2] - boundary[:, 0] + 1).view(-1, 1)
        score = alpha.transpose(0, 1)[torch.arange(px.shape[0], device=px.device), end]
        score = score.gather(1, cols).squeeze(1)
        score_out = score.to(dtype)
        if not (need_occ or ctx.needs_input_grad[0] or ctx.needs_input_grad[1]):
            empty = px.new_empty(0)
            ctx.mark_non_differentiable(empty)
            return score_out, empty, empty
        beta = _backward_scores(into_x, into_y, boundary)
        occ_x, occ_y = _occupations(into_x, into_y, alpha, beta, score)
        px_occ = _unskew(occ_x, boundary, tuple(px.shape), along_s=True).to(dtype)
        py_occ = _unskew(occ_y, boundary, tuple(py.shape), along_s=False).to(dtype)
        ctx.save_for_backward(px_occ, py_occ)
        ctx.mark_non_differentiable(px_occ, py_occ)
        return score_out, px_occ, py_occ

    @staticmethod
    def backward(ctx: Any, grad_score: Tensor, *_: Any) -> Any:
        px_occ, py_occ = ctx.saved_tensors
        scale = grad_score.view(-1, 1, 1).to(px_occ.dtype)
        return px_occ * scale, py_occ * scale, None, None


def lattice_score(
    px: Tensor, py: Tensor, boundary: Tensor, return_occupations: bool = False
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Log-sum over monotone paths of each utterance's lattice (see the module docstring).

    Args:
        px: (B, S, T+1) log-weights of the steps along s.
        py: (B, S+1, T) log-weights of the steps along t; same dtype as px.
        boundary: (B, 4) int64 rows ``[s_begin, t_begin, s_end, t_end]``.
        return_occupations: also return the occupation probabilities (the gradients of the
            scores' sum with respect to px and py), even when no gradient is required.

    Returns:
        ``(score, px_occupation, py_occupation)``: score (B,) and the occupations shaped like px
        and py, or ``None`` for them when neither is requested nor needed for autograd.
        Differentiable with respect to px and py.
    """
    if px.ndim != 3 or py.ndim != 3:
        raise ValueError(f"px and py must be 3-D, got {tuple(px.shape)} and {tuple(py.shape)}")
    batch, num_s, num_t1 = px.shape
    num_t = py.shape[2]
    if py.shape != (batch, num_s + 1, num_t) or num_t1 != num_t + 1:
        raise ValueError(
            f"px {tuple(px.shape)} and py {tuple(py.shape)} must be (B, S, T+1) and (B, S+1, T)"
        )
    if boundary.shape != (batch, 4) or boundary.dtype != torch.int64:
        raise ValueError(
            f"boundary must be int64 of shape ({batch}, 4), got {boundary.dtype} "
            f"{tuple(boundary.shape)}"
        )
    _check_boundary(boundary, num_s, num_t)
    boundary = boundary.to(px.device)
    score, px_occ, py_occ = _LatticeScore.apply(px, py, boundary, return_occupations)
    if px_occ.numel() == 0 and px.numel() > 0:
        return score, None, None
    return score, px_occ, py_occ
