"""A standard Conformer encoder (Gulati et al., 2020), the baseline of the benchmark suite.

Written for the benchmarks only; zipasr itself does not use it. One block is

    x = x + 1/2 FFN(x)          FFN: LayerNorm -> Linear(d, 4d) -> Swish -> Linear(4d, d)
    x = x + MHSA(x)             LayerNorm -> multi-head self-attention with relative positions
    x = x + Conv(x)             LayerNorm -> pointwise (2d) -> GLU -> depthwise (k) -> BatchNorm
                                -> Swish -> pointwise
    x = x + 1/2 FFN(x)
    x = LayerNorm(x)

with dropout on each residual branch. The front end is two stride-2 3x3 convolutions (100 Hz ->
25 Hz, the Zipformer's output rate) and a linear projection to d. The attention uses
Transformer-XL relative positions: ``score(i, j) = (q_i + u) . k_j + (q_i + v) . W p(i - j)``
with sinusoidal ``p``, written with plain matmuls so that ``FlopCounterMode`` counts them.

``ConformerEncoder(features, lengths)`` has the Zipformer's calling convention and a ``clock``
attribute, so it can stand in for ``AsrModel.encoder`` (non-causal, full context only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zipasr.schedule import TrainingClock


@dataclass(frozen=True)
class ConformerConfig:
    """Architecture of :class:`ConformerEncoder`.

    Attributes:
        dim: d, the model width (also the output width).
        num_layers: Conformer blocks.
        num_heads: attention heads (d must be a multiple).
        ff_mult: the feed-forward hidden size is ``ff_mult * d``.
        conv_kernel: depthwise convolution kernel (odd).
        dropout: on every residual branch, the attention weights and the front end.
        subsampling_channels: channels of the front end's convolutions (d if None).
    """

    feature_dim: int = 80
    dim: int = 512
    num_layers: int = 9
    num_heads: int = 8
    ff_mult: int = 4
    conv_kernel: int = 31
    dropout: float = 0.1
    subsampling_channels: int | None = None

    def __post_init__(self) -> None:
        if self.dim % self.num_heads:
            raise ValueError(f"dim={self.dim} must be a multiple of num_heads={self.num_heads}")
        if self.conv_kernel % 2 == 0:
            raise ValueError(f"conv_kernel={self.conv_kernel} must be odd")

    @classmethod
    def small(cls) -> ConformerConfig:
        """d = 256, 4 heads, FFN 1024, kernel 31 (the width of Gulati et al.'s medium model).
        13 blocks is the depth closest to Zipformer-S's 21,986,835 parameters, but with the
        front end at d channels it is 22,494,976 (+2.3%; 12 blocks: -4.9%), so the front
        end's convolutions have 192 channels instead of 256: 21,924,928 parameters (-0.28%).
        A narrower front end is also cheaper, so this errs in the Conformer's favour."""
        return cls(dim=256, num_layers=13, num_heads=4, subsampling_channels=192)

    @classmethod
    def medium(cls) -> ConformerConfig:
        """d = 512, 8 heads, FFN 2048, kernel 31 (the usual large-Conformer width); 9 blocks
        give 64.3 M parameters, the depth closest to Zipformer-M's 64.0 M."""
        return cls(dim=512, num_layers=9, num_heads=8)

    @classmethod
    def large(cls) -> ConformerConfig:
        """d = 512, 8 heads, FFN 2048, kernel 31 (the width of Gulati et al.'s large model);
        22 blocks give 146,467,840 parameters, the depth closest to Zipformer-L's 146,616,250
        (-0.10%; 21 blocks: -4.4%, 23: +4.2%)."""
        return cls(dim=512, num_layers=22, num_heads=8)

    @classmethod
    def demo(cls, dim: int = 128) -> ConformerConfig:
        """d = 128, 4 heads, FFN 512: 6 blocks give 2.87 M parameters, the size of the demo's
        Zipformer encoder (2.83 M non-causal; its output width is 128, so the same heads
        fit)."""
        return cls(dim=dim, num_layers=6, num_heads=4)

    def output_frames(self, feature_frames: int) -> int:
        """Output frames (25 Hz) for ``feature_frames`` input frames (100 Hz)."""
        return ((feature_frames - 1) // 2 - 1) // 2


class Subsampling(nn.Module):
    """(B, T, F) -> (B, T', d): two 3x3 stride-2 convolutions with ReLU, then a projection."""

    def __init__(self, feature_dim: int, channels: int, dim: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, stride=2)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride=2)
        freq = ((feature_dim - 1) // 2 - 1) // 2
        self.proj = nn.Linear(channels * freq, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.conv2(F.relu(self.conv1(x.unsqueeze(1)))))  # (B, C, T', F')
        b, c, t, f = x.shape
        return self.dropout(self.proj(x.permute(0, 2, 1, 3).reshape(b, t, c * f)))


def relative_positions(t: int, dim: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Sinusoidal encodings of the relative distances T-1, T-2, ..., -(T-1): (2T - 1, dim)."""
    distance = torch.arange(t - 1, -t, -1, device=device, dtype=torch.float32)
    inv_freq = torch.exp(
        torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim)
    )
    angles = distance[:, None] * inv_freq[None, :]
    enc = torch.stack((angles.sin(), angles.cos()), dim=-1).reshape(2 * t - 1, dim)
    return enc.to(dtype)


def rel_shift(scores: Tensor) -> Tensor:
    """(..., T, 2T - 1) scores against the distances T-1 ... -(T-1) -> (..., T, T) scores of
    query i against key j, i.e. distance i - j, which sits in column T - 1 - i + j. A strided
    view: no copy."""
    t = scores.shape[-2]
    scores = scores.contiguous()
    size = (*scores.shape[:-1], t)
    stride = (*scores.stride()[:-2], scores.stride(-2) - 1, 1)
    return scores.as_strided(size, stride, scores.storage_offset() + t - 1)


class RelPositionSelfAttention(nn.Module):
    """Multi-head self-attention with Transformer-XL relative positions (see the module
    docstring). x: (B, T, d), pos: (2T - 1, d), key_padding_mask: (B, T) True at padding."""

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.pos = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim)
        self.content_bias = nn.Parameter(torch.zeros(num_heads, self.head_dim))
        self.position_bias = nn.Parameter(torch.zeros(num_heads, self.head_dim))
        nn.init.xavier_uniform_(self.content_bias)
        nn.init.xavier_uniform_(self.position_bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, pos: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        b, t, _ = x.shape
        h, dh = self.num_heads, self.head_dim
        q = self.query(x).view(b, t, h, dh)
        k = self.key(x).view(b, t, h, dh).permute(0, 2, 3, 1)  # (B, H, dh, T)
        v = self.value(x).view(b, t, h, dh).transpose(1, 2)  # (B, H, T, dh)
        p = self.pos(pos).view(2 * t - 1, h, dh).permute(1, 2, 0)  # (H, dh, 2T - 1)
        content = torch.matmul((q + self.content_bias).transpose(1, 2), k)  # (B, H, T, T)
        position = rel_shift(torch.matmul((q + self.position_bias).transpose(1, 2), p))
        scores = (content + position) * (dh**-0.5)
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        weights = self.dropout(scores.softmax(dim=-1))
        return self.out(torch.matmul(weights, v).transpose(1, 2).reshape(b, t, h * dh))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.inner = nn.Linear(dim, hidden)
        self.outer = nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.outer(self.dropout(F.silu(self.inner(self.norm(x))))))


class ConvModule(nn.Module):
    """LayerNorm -> pointwise (2d) -> GLU -> depthwise -> BatchNorm -> Swish -> pointwise."""

    def __init__(self, dim: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.pointwise_in = nn.Linear(dim, 2 * dim)
        self.depthwise = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.batch_norm = nn.BatchNorm1d(dim)
        self.pointwise_out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        y = F.glu(self.pointwise_in(self.norm(x)), dim=-1)
        if key_padding_mask is not None:  # padding must not leak into valid frames
            y = y.masked_fill(key_padding_mask[..., None], 0.0)
        y = F.silu(self.batch_norm(self.depthwise(y.transpose(1, 2)))).transpose(1, 2)
        return self.dropout(self.pointwise_out(y))


class ConformerBlock(nn.Module):
    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        d = config.dim
        self.ff1 = FeedForward(d, config.ff_mult * d, config.dropout)
        self.attn_norm = nn.LayerNorm(d)
        self.attn = RelPositionSelfAttention(d, config.num_heads, config.dropout)
        self.conv = ConvModule(d, config.conv_kernel, config.dropout)
        self.ff2 = FeedForward(d, config.ff_mult * d, config.dropout)
        self.out_norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, pos: Tensor, key_padding_mask: Tensor | None) -> Tensor:
        x = x + 0.5 * self.ff1(x)
        x = x + self.dropout(self.attn(self.attn_norm(x), pos, key_padding_mask))
        x = x + self.conv(x, key_padding_mask)
        x = x + 0.5 * self.ff2(x)
        return self.out_norm(x)


class ConformerEncoder(nn.Module):
    """(B, T, 80) fbank at 100 Hz and (B,) lengths -> (B, T', d) at 25 Hz and (B,) lengths,
    ``T' = ((T - 1) // 2 - 1) // 2``. Full context only."""

    def __init__(self, config: ConformerConfig) -> None:
        super().__init__()
        self.config = config
        self.clock = TrainingClock()  # AsrModel and the trainer read it; nothing here does
        channels = config.subsampling_channels or config.dim
        self.embed = Subsampling(config.feature_dim, channels, config.dim, config.dropout)
        self.layers = nn.ModuleList(ConformerBlock(config) for _ in range(config.num_layers))

    @property
    def output_dim(self) -> int:
        return self.config.dim

    def forward(
        self,
        features: Tensor,
        lengths: Tensor,
        *,
        chunk_frames: int | None = None,
        left_context_frames: int | None = None,
    ) -> tuple[Tensor, Tensor]:
        if chunk_frames is not None or left_context_frames is not None:
            raise ValueError("this Conformer is full-context only; pass chunk_frames=None")
        x = self.embed(features)
        out_lengths = ((lengths - 1) // 2 - 1) // 2
        t = x.shape[1]
        mask = torch.arange(t, device=x.device)[None, :] >= out_lengths[:, None]
        pos = relative_positions(t, self.config.dim, x.device, x.dtype)
        key_padding_mask = mask if bool(mask.any()) else None
        for layer in self.layers:
            x = layer(x, pos, key_padding_mask)
        return x, out_lengths


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
