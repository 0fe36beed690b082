"""Relative-position attention weights, computed once per block, and the attention that uses them.

A Zipformer block computes one set of attention weights from its input and uses it three
times: in NonlinAttention (head 0 only) and in both SelfAttention modules.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zipasr.nn.inference import blockwise_inference, row_block
from zipasr.nn.scaled_init import scaled_linear
from zipasr.regularizers import AbsValuePenalty, Balancer, RandomDrop, Whiten
from zipasr.regularizers.whiten import whitening_schedule
from zipasr.schedule import Schedule, TrainingClock

#: Score given to masked positions (replaced, not added). Finite, so a fully masked row becomes
#: uniform instead of NaN, as in the reference.
MASKED_SCORE = -1000.0

#: Scores (H x B x T x K) from which eval mode computes the weights block by block (4 MiB of
#: float32): below it the tensors are small and the per-block calls would cost more.
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
        num_scores = h * b * t * keys.shape[0]
        if num_scores >= BLOCKWISE_MIN_SCORES and not self.training and blockwise_inference(y):
            return _weights_blockwise(q, k, p, r, mask), _last(keys, cached_key)

        scores = torch.matmul(q, k)  # (H, B, T, K)
        pos_scores = relative_to_absolute(torch.matmul(p, r), keys.shape[0])
        scores = self.score_limit(scores + self.pos_skip(pos_scores))
        if mask is not None:
            scores = scores.masked_fill(mask, MASKED_SCORE)
        return scores.softmax(dim=-1), _last(keys, cached_key)


def _weights_blockwise(q: Tensor, k: Tensor, p: Tensor, r: Tensor, mask: Tensor | None) -> Tensor:
    """The eval-mode weights of :class:`RelPositionAttentionWeights`, computed for a block of
    query rows of one head and utterance at a time, straight into the output: no (H, B, T, K)
    intermediates besides it, and one reused buffer for the positional scores (see
    :mod:`zipasr.nn.inference`). The same operations as the batched code on the same numbers.

    q: (H, B, T, Q); k: (H, B, Q, K); p: (H, B, T, Pd); r: (H, 1, Pd, T + K - 1);
    mask: bool broadcastable to (B, T, K) or None  ->  (H, B, T, K)
    """
    h, b, t, _ = q.shape
    num_keys = k.shape[-1]
    weights = q.new_empty(h, b, t, num_keys)
    rows = min(t, row_block(num_keys))
    pos_buffer = q.new_empty(rows * (num_keys + rows - 1))
    masks: list[Tensor | None] = [None] * b
    if mask is not None:
        mask = mask.expand(b, mask.shape[-2], num_keys)
        # An utterance with nothing masked (no padding, no chunking) skips the fill.
        masks = [m if bool(m.any()) else None for m in mask.unbind(0)]
    for start in range(0, t, rows):
        end = min(t, start + rows)
        # Query row i needs the offsets from column T - 1 - i of r: the block's rows together
        # need the K + n - 1 columns from T - end, row l starting (n - 1) - l columns in.
        n, first = end - start, t - end
        width = num_keys + n - 1
        pos = pos_buffer[: n * width].view(n, width)
        pos_view = pos.as_strided((n, num_keys), (width - 1, 1), n - 1)
        for utt in range(b):
            for head in range(h):
                block = weights[head, utt, start:end]  # contiguous rows
                torch.matmul(q[head, utt, start:end], k[head, utt], out=block)
                torch.matmul(p[head, utt, start:end], r[head, 0, :, first : first + width], out=pos)
                block.add_(pos_view)
                utt_mask = masks[utt]
                if utt_mask is not None:
                    rows_mask = utt_mask if utt_mask.shape[0] == 1 else utt_mask[start:end]
                    block.masked_fill_(rows_mask, MASKED_SCORE)
                torch.softmax(block, dim=-1, out=block)
    return weights


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
