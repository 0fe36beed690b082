"""Relative-position attention weights, computed once per block, and the attention that uses them.

A Zipformer block computes one set of attention weights from its input and uses it three
times: in NonlinAttention (head 0 only) and in both SelfAttention modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from zipasr.nn.inference import blockwise_applies, needs_grad, reused_empty, row_block
from zipasr.nn.scaled_init import scaled_linear
from zipasr.regularizers import AbsValuePenalty, Balancer, RandomDrop, Whiten
from zipasr.regularizers.whiten import whitening_schedule
from zipasr.schedule import Schedule, TrainingClock

#: Score given to masked positions (replaced, not added). Finite, so a fully masked row becomes
#: uniform instead of NaN, as in the reference.
MASKED_SCORE = -1000.0

#: Scores (H x B x T x K) from which the weights are computed block by block on CPU, in eval
#: and in training (4 MiB of float32): below it the tensors are small and the per-block calls
#: would cost more.
BLOCKWISE_MIN_SCORES = 1 << 20


def relative_to_absolute(pos_scores: Tensor, num_keys: int) -> Tensor:
    """Turns scores indexed by relative offset into scores indexed by key position.

    pos_scores: (H, B, T, N) whose last axis runs over the offsets d = key time - query time in
    increasing order, ending at d = T - 1. With L = num_keys - T cached keys first (key j at
    time j - L), the column for (query i, key j) is (T - 1) - i + j.
    Returns a (H, B, T, num_keys) view.
    """
    h, b, t, n = pos_scores.shape
    pos_scores = pos_scores.contiguous()
    # Row i starts (t - 1 - i) columns into its own row: a view with row stride n - 1. The
    # strides of the contiguous layout are written out (not read back with .stride()), which
    # the ONNX exporter can translate for dynamic shapes.
    strides = (b * t * n, t * n, n - 1, 1)
    return pos_scores.as_strided((h, b, t, num_keys), strides, t - 1)


class RelPositionAttentionWeights(nn.Module):
    """Multi-head attention weights with relative positional scores and no 1/sqrt(d) scaling.

    scores[h, b, i, j] = q_i . k_j + p_i . R(j - i), R a projection of the positional encoding.
    Masked positions get the score -1000, then softmax over keys. Streaming passes the keys of
    the L frames before x as ``cached_key``; they come first among the K = L + T keys, and the
    last L keys are returned as the new cache.

    Args:
        dim: C.
        num_heads: H.
        query_head_dim: Q (query and key size per head).
        pos_head_dim: Pd (positional-query size per head).
        pos_dim: P (positional encoding size).

    Shapes:
        x: (T, B, C); pos: (1, T + K - 1, P); mask: bool broadcastable to (B, T, K), True =
        masked, or None; cached_key: (L, B, H * Q) or None  ->  weights (H, B, T, K) and the
        new (L, B, H * Q) or None
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        query_head_dim: int,
        pos_head_dim: int,
        pos_dim: int,
        clock: TrainingClock,
    ) -> None:
        super().__init__()
        self.num_heads, self.query_head_dim, self.pos_head_dim = (
            num_heads,
            query_head_dim,
            pos_head_dim,
        )
        out = (2 * query_head_dim + pos_head_dim) * num_heads
        self.in_proj = scaled_linear(dim, out, initial_scale=query_head_dim**-0.25)
        self.pos_proj = scaled_linear(
            pos_dim, num_heads * pos_head_dim, bias=False, initial_scale=0.05
        )
        self.key_balancer = Balancer(
            query_head_dim * num_heads, -1, min_positive=0.4, max_positive=0.6,
            min_abs=0.0, max_abs=100.0, prob=0.025, clock=clock,
        )  # fmt: skip
        self.key_whiten = Whiten(num_heads, whitening_schedule(3.0), grad_scale=0.025, clock=clock)
        self.pos_skip = RandomDrop(Schedule((0.0, 0.5), (4000.0, 0.0)), clock)
        self.score_limit = AbsValuePenalty(limit=25.0, penalty=1e-4, prob=0.1)

    def forward(
        self,
        x: Tensor,
        pos: Tensor,
        mask: Tensor | None = None,
        cached_key: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        t, b, _ = x.shape
        h, q_dim, p_dim = self.num_heads, self.query_head_dim, self.pos_head_dim
        y = self.in_proj(x)
        q = y[..., : h * q_dim].reshape(t, b, h, q_dim).permute(2, 1, 0, 3)
        keys = self.key_whiten(self.key_balancer(y[..., h * q_dim : 2 * h * q_dim]))
        if cached_key is not None:
            keys = torch.cat((cached_key, keys), dim=0)
        k = keys.reshape(keys.shape[0], b, h, q_dim).permute(2, 1, 3, 0)
        p = y[..., 2 * h * q_dim :].reshape(t, b, h, p_dim).permute(2, 1, 0, 3)
        r = self.pos_proj(pos)  # (1, T + K - 1, H * Pd)
        r = r.reshape(-1, r.shape[1], h, p_dim).permute(2, 0, 3, 1)  # (H, 1, Pd, T + K - 1)
        # Training-only randomness, drawn first so that both paths below draw alike (the
        # modules are Identity in a model stripped of them: nothing to draw).
        scores_need_grad = y.requires_grad or keys.requires_grad or r.requires_grad
        drop_pos = isinstance(self.pos_skip, RandomDrop) and self.pos_skip.draw()
        penalize = isinstance(self.score_limit, AbsValuePenalty) and self.score_limit.draw(
            scores_need_grad
        )
        if (
            blockwise_applies(q, k, p, r)  # first: a size test would be a guard when compiling
            and not (drop_pos or penalize)
            and (mask is None or mask.dim() == 3)
            and r.shape[1] == 1
            and h * b * t * keys.shape[0] >= BLOCKWISE_MIN_SCORES
        ):
            if needs_grad(q, k, p, r):
                weights = _BlockwiseWeights.apply(q, k, p, r, mask)
            else:
                out = reused_empty((h, b, t, keys.shape[0]), q)
                weights = _weights_blockwise(q, k, p, r, mask, out)
            return weights, _last(keys, cached_key)

        scores = torch.matmul(q, k)  # (H, B, T, K)
        pos_scores = relative_to_absolute(torch.matmul(p, r), keys.shape[0])
        scores = scores + (torch.zeros_like(pos_scores) if drop_pos else pos_scores)
        if penalize:
            scores = self.score_limit.penalize(scores)
        if mask is not None:
            scores = scores.masked_fill(mask, MASKED_SCORE)
        return scores.softmax(dim=-1), _last(keys, cached_key)


def _weights_blockwise(
    q: Tensor, k: Tensor, p: Tensor, r: Tensor, mask: Tensor | None, out: Tensor | None = None
) -> Tensor:
    """The weights of :class:`RelPositionAttentionWeights`, computed for a block of query rows
    of one head and utterance at a time, straight into the output: no (H, B, T, K)
    intermediates besides it, and one reused buffer for the positional scores (see
    :mod:`zipasr.nn.inference`). The same operations as the batched code on the same numbers.

    q: (H, B, T, Q); k: (H, B, Q, K); p: (H, B, T, Pd); r: (H, 1, Pd, T + K - 1);
    mask: bool broadcastable to (B, T, K) or None  ->  (H, B, T, K), written into ``out``
    where given (inference passes one from :func:`~zipasr.nn.inference.reused_empty`)
    """
    h, b, t, _ = q.shape
    weights = q.new_empty(h, b, t, k.shape[-1]) if out is None else out
    blocks = _Blocks(t, k.shape[-1], q)
    masks = _utterance_masks(mask, b, k.shape[-1])
    for start, end, first, pos, pos_view in blocks:
        for utt in range(b):
            for head in range(h):
                block = weights[head, utt, start:end]  # contiguous rows
                torch.matmul(q[head, utt, start:end], k[head, utt], out=block)
                r_cols = r[head, 0, :, first : first + pos.shape[1]]
                torch.matmul(p[head, utt, start:end], r_cols, out=pos)
                block.add_(pos_view)
                rows_mask = _rows(masks[utt], start, end)
                if rows_mask is not None:
                    block.masked_fill_(rows_mask, MASKED_SCORE)
                torch.softmax(block, dim=-1, out=block)
    return weights


def _weights_blockwise_backward(
    grad: Tensor,
    q: Tensor,
    k: Tensor,
    p: Tensor,
    r: Tensor,
    weights: Tensor,
    mask: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Gradients of :func:`_weights_blockwise` for q, k, p and r, block by block like it: the
    softmax's backward on a block of rows, then the products with the keys and queries, and
    for the positional scores the block's gradient laid back onto the offsets it came from
    (the transpose of the strided view of the forward), then the products with p and r."""
    h, b, t, _ = q.shape
    grad_q = q.new_empty(q.shape)
    grad_k = k.new_zeros(k.shape)
    grad_p = p.new_empty(p.shape)
    grad_r = r.new_zeros(r.shape)
    blocks = _Blocks(t, k.shape[-1], q)
    masks = _utterance_masks(mask, b, k.shape[-1])
    for start, end, first, grad_pos, grad_pos_view in blocks:
        for utt in range(b):
            for head in range(h):
                w = weights[head, utt, start:end]
                g = grad[head, utt, start:end]
                # softmax: dL/ds = w * (g - sum(g * w))
                g_scores = (g - (g * w).sum(dim=-1, keepdim=True)).mul_(w)
                rows_mask = _rows(masks[utt], start, end)
                if rows_mask is not None:  # masked scores were replaced, not added to
                    g_scores.masked_fill_(rows_mask, 0.0)
                torch.mm(g_scores, k[head, utt].t(), out=grad_q[head, utt, start:end])
                grad_k[head, utt].addmm_(q[head, utt, start:end].t(), g_scores)
                grad_pos.zero_()
                grad_pos_view.copy_(g_scores)
                r_cols = r[head, 0, :, first : first + grad_pos.shape[1]]
                torch.mm(grad_pos, r_cols.t(), out=grad_p[head, utt, start:end])
                grad_r[head, 0, :, first : first + grad_pos.shape[1]].addmm_(
                    p[head, utt, start:end].t(), grad_pos
                )
    return grad_q, grad_k, grad_p, grad_r


class _Blocks:
    """The blocks of query rows of the blockwise weights, each as (start, end, first column of
    r it needs, the (n, K + n - 1) positional buffer, its (n, K) strided view).

    Query row i needs the offsets from column T - 1 - i of r: the block's rows together need
    the K + n - 1 columns from T - end, row l starting (n - 1) - l columns into its row of the
    buffer, which makes a view with row stride K + n - 2. One buffer serves every block.
    """

    def __init__(self, t: int, num_keys: int, like: Tensor) -> None:
        self.t, self.num_keys = t, num_keys
        self.rows = min(t, row_block(num_keys))
        self.buffer = like.new_empty(self.rows * (num_keys + self.rows - 1))

    def __iter__(self) -> Iterator[tuple[int, int, int, Tensor, Tensor]]:
        for start in range(0, self.t, self.rows):
            end = min(self.t, start + self.rows)
            n = end - start
            width = self.num_keys + n - 1
            pos = self.buffer[: n * width].view(n, width)
            view = pos.as_strided((n, self.num_keys), (width - 1, 1), pos.storage_offset() + n - 1)
            yield start, end, self.t - end, pos, view


def _utterance_masks(mask: Tensor | None, b: int, num_keys: int) -> list[Tensor | None]:
    """Each utterance's (1 or T, K) mask, or None where nothing is masked (it skips the fill)."""
    if mask is None:
        return [None] * b
    mask = mask.expand(b, mask.shape[-2], num_keys)
    return [m if bool(m.any()) else None for m in mask.unbind(0)]


def _rows(mask: Tensor | None, start: int, end: int) -> Tensor | None:
    """The rows start:end of a (1 or T, K) mask (a 1-row mask serves every row)."""
    return mask if mask is None or mask.shape[0] == 1 else mask[start:end]


class _BlockwiseWeights(torch.autograd.Function):
    """:func:`_weights_blockwise` with its blockwise backward: in training the (H, B, T, K)
    scores, positional scores and their gradients never exist whole either; the weights are
    kept for the backward, as the batched softmax keeps them."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, q: Tensor, k: Tensor, p: Tensor, r: Tensor, mask: Tensor | None
    ) -> Tensor:
        weights = _weights_blockwise(q, k, p, r, mask)
        ctx.save_for_backward(q, k, p, r, weights)
        ctx.mask = mask
        return weights

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, None]:  # type: ignore[override]
        q, k, p, r, weights = ctx.saved_tensors
        return (*_weights_blockwise_backward(grad, q, k, p, r, weights, ctx.mask), None)


class SelfAttention(nn.Module):
    """Applies given attention weights to a fresh value projection.

    Streaming passes the values of the L frames before x as ``cached_value`` (the first L of the
    weights' K keys) and gets the last L values back as the new cache.

    Shapes:
        x: (T, B, C); weights: (H, B, T, K); cached_value: (L, B, H * V) or None  ->  (T, B, C)
        and the new (L, B, H * V) or None
    """

    def __init__(self, dim: int, num_heads: int, value_head_dim: int, clock: TrainingClock) -> None:
        super().__init__()
        self.num_heads, self.value_head_dim = num_heads, value_head_dim
        self.in_proj = nn.Linear(dim, num_heads * value_head_dim)
        self.out_proj = scaled_linear(num_heads * value_head_dim, dim, initial_scale=0.05)
        self.whiten = Whiten(1, whitening_schedule(7.5, ratio=3.0), grad_scale=0.01, clock=clock)

    def forward(
        self, x: Tensor, weights: Tensor, cached_value: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        t, b, _ = x.shape
        values = self.in_proj(x)
        if cached_value is not None:
            values = torch.cat((cached_value, values), dim=0)
        v = values.reshape(-1, b, self.num_heads, self.value_head_dim).permute(2, 1, 0, 3)
        o = torch.matmul(weights, v)  # (H, B, T, V)
        o = o.permute(2, 1, 0, 3).reshape(t, b, -1)
        return self.whiten(self.out_proj(o)), _last(values, cached_value)


def _last(frames: Tensor, cache: Tensor | None) -> Tensor | None:
    """The new cache: the last ``len(cache)`` of ``frames`` (time-major), or None without one."""
    return None if cache is None else frames[frames.shape[0] - cache.shape[0] :]
