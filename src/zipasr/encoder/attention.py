"""Relative-position attention weights, computed once per block, and the attention that uses them.

A Zipformer block computes one set of attention weights from its input and uses it three
times: in NonlinAttention (head 0 only) and in both SelfAttention modules.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zipasr.nn.scaled_init import scaled_linear
from zipasr.nn.schedule import Schedule, TrainingClock
from zipasr.regularizers import AbsValuePenalty, Balancer, RandomDrop, Whiten
from zipasr.regularizers.whiten import whitening_schedule

#: Score given to masked positions (replaced, not added). Finite, so a fully masked row becomes
#: uniform instead of NaN, as in the reference.
MASKED_SCORE = -1000.0


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
    Masked positions get the score -1000, then softmax over keys.

    Args:
        dim: C.
        num_heads: H.
        query_head_dim: Q (query and key size per head).
        pos_head_dim: Pd (positional-query size per head).
        pos_dim: P (positional encoding size).

    Shapes:
        x: (T, B, C); pos: (1, 2T - 1, P); attn_mask: (T, T) bool, True = masked;
        key_padding_mask: (B, T) bool, True = padding  ->  (H, B, T, T)
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
        attn_mask: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
    ) -> Tensor:
        mask = attn_mask
        if key_padding_mask is not None:
            kpm = key_padding_mask.unsqueeze(1)  # (B, 1, T)
            mask = kpm if mask is None else mask | kpm
        return self._weights(x, pos, mask, None)[0]

    def forward_chunk(
        self, x: Tensor, pos: Tensor, key_padding_mask: Tensor, cached_key: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Streaming: one chunk attends to itself and to L cached keys.

        x: (T, B, C); pos: (1, 2T + L - 1, P); key_padding_mask: (B, L + T) bool over cache and
        chunk; cached_key: (L, B, H * Q)  ->  weights (H, B, T, L + T) and the new (L, B, H * Q).
        """
        weights, keys = self._weights(x, pos, key_padding_mask.unsqueeze(1), cached_key)
        return weights, keys[keys.shape[0] - cached_key.shape[0] :]

    def _weights(
        self, x: Tensor, pos: Tensor, mask: Tensor | None, cached_key: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Attention weights (H, B, T, K) over K = (cached +) current keys, and the keys."""
        t, b, _ = x.shape
        h, q_dim, p_dim = self.num_heads, self.query_head_dim, self.pos_head_dim
        y = self.in_proj(x)
        q = y[..., : h * q_dim].reshape(t, b, h, q_dim).permute(2, 1, 0, 3)
        keys = self.key_whiten(self.key_balancer(y[..., h * q_dim : 2 * h * q_dim]))
        if cached_key is not None:
            keys = torch.cat((cached_key, keys), dim=0)
        k = keys.reshape(keys.shape[0], b, h, q_dim).permute(2, 1, 3, 0)
        p = y[..., 2 * h * q_dim :].reshape(t, b, h, p_dim).permute(2, 1, 0, 3)
        scores = torch.matmul(q, k)  # (H, B, T, K)

        r = self.pos_proj(pos)  # (1, T + K - 1, H * Pd)
        r = r.reshape(-1, r.shape[1], h, p_dim).permute(2, 0, 3, 1)  # (H, 1, Pd, T + K - 1)
        pos_scores = relative_to_absolute(torch.matmul(p, r), keys.shape[0])
        scores = self.score_limit(scores + self.pos_skip(pos_scores))
        if mask is not None:
            scores = scores.masked_fill(mask, MASKED_SCORE)
        return scores.softmax(dim=-1), keys


class SelfAttention(nn.Module):
    """Applies given attention weights to a fresh value projection.

    Shapes:
        x: (T, B, C); weights: (H, B, T, T)  ->  (T, B, C)
    """

    def __init__(self, dim: int, num_heads: int, value_head_dim: int, clock: TrainingClock) -> None:
        super().__init__()
        self.num_heads, self.value_head_dim = num_heads, value_head_dim
        self.in_proj = nn.Linear(dim, num_heads * value_head_dim)
        self.out_proj = scaled_linear(num_heads * value_head_dim, dim, initial_scale=0.05)
        self.whiten = Whiten(1, whitening_schedule(7.5, ratio=3.0), grad_scale=0.01, clock=clock)

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        return self._attend(x, weights, None)[0]

    def forward_chunk(
        self, x: Tensor, weights: Tensor, cached_value: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Streaming: x (T, B, C), weights (H, B, T, L + T), cached_value (L, B, H * V) ->
        output (T, B, C) and the new (L, B, H * V)."""
        out, values = self._attend(x, weights, cached_value)
        return out, values[values.shape[0] - cached_value.shape[0] :]

    def _attend(
        self, x: Tensor, weights: Tensor, cached_value: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        t, b, _ = x.shape
        values = self.in_proj(x)
        if cached_value is not None:
            values = torch.cat((cached_value, values), dim=0)
        v = values.reshape(-1, b, self.num_heads, self.value_head_dim).permute(2, 1, 0, 3)
        o = torch.matmul(weights, v)  # (H, B, T, V)
        o = o.permute(2, 1, 0, 3).reshape(t, b, -1)
        return self.whiten(self.out_proj(o)), values
