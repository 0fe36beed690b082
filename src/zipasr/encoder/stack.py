"""A stack of Zipformer layers at one frame rate, with the down/upsampling around it."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zipasr.encoder.bypass import Bypass
from zipasr.encoder.layer import ZipformerLayer
from zipasr.encoder.positional import CompactRelPositionalEncoding
from zipasr.encoder.state import LayerState
from zipasr.schedule import TrainingClock


class SimpleDownsample(nn.Module):
    """Weighted average of each group of ``factor`` frames, weights softmax(bias).

    The last group is completed by repeating the last frame.

    Shapes:
        x: (T, B, C) -> (ceil(T / factor), B, C), T >= 1
    """

    def __init__(self, factor: int) -> None:
        super().__init__()
        self.factor = factor
        self.bias = nn.Parameter(torch.zeros(factor))

    def forward(self, x: Tensor) -> Tensor:
        t, b, c = x.shape
        groups = (t + self.factor - 1) // self.factor  # the length of x[::factor]
        # Always `factor` copies, then cut: a padding whose length can be 0 or 1 would make
        # torch.compile specialise on it and compile again for other input lengths.
        x = torch.cat((x, x[-1:].expand(self.factor, b, c)), dim=0)[: groups * self.factor]
        weights = self.bias.softmax(dim=0).reshape(1, self.factor, 1, 1)
        return (x.reshape(groups, self.factor, b, c) * weights).sum(dim=1)


def upsample(x: Tensor, factor: int, num_frames: int) -> Tensor:
    """Repeats each frame ``factor`` times and keeps the first ``num_frames``. x: (T, B, C)."""
    t, b, c = x.shape
    return x.unsqueeze(1).expand(t, factor, b, c).reshape(t * factor, b, c)[:num_frames]


class ZipformerStack(nn.Module):
    """Layers at 50 Hz / ``downsampling``. Input and output are at 50 Hz.

    With downsampling > 1 the input is downsampled, run through the layers, upsampled, and
    combined with the input through a learned :class:`Bypass`. The masks are given at 50 Hz
    and downsampled with x. Streaming passes the layers' states, whose caches hold the L frames
    before x (x is then one chunk, T a multiple of the downsampling), and gets the new ones.

    Shapes:
        x: (T, B, C) at 50 Hz; attn_mask: bool broadcastable to (B, T, L + T), True = masked,
        or None; padding_mask: (B, T) bool or None; feature_mask: broadcastable to x, or None;
        states: one per layer, or None  ->  (T, B, C) and the new states (None without)
    """

    def __init__(
        self, layers: list[ZipformerLayer], dim: int, downsampling: int, pos_dim: int,
        clock: TrainingClock,
    ) -> None:  # fmt: skip
        super().__init__()
        self.dim, self.downsampling = dim, downsampling
        self.layers = nn.ModuleList(layers)
        self.pos_enc = CompactRelPositionalEncoding(pos_dim)
        self.downsample = SimpleDownsample(downsampling) if downsampling > 1 else None
        self.bypass = Bypass(dim, clock) if downsampling > 1 else None

    def forward(
        self,
        x: Tensor,
        attn_mask: Tensor | None = None,
        padding_mask: Tensor | None = None,
        chunk_frames: int | None = None,
        feature_mask: Tensor | None = None,
        states: list[LayerState] | None = None,
    ) -> tuple[Tensor, list[LayerState] | None]:
        ds, x_in = self.downsampling, x
        if self.downsample is not None:
            x = self.downsample(x)
            if attn_mask is not None:
                attn_mask = attn_mask[..., ::ds, ::ds]
            if padding_mask is not None:
                padding_mask = padding_mask[:, ::ds]
            if chunk_frames is not None:
                chunk_frames //= ds
        left = 0 if states is None else states[0].key.shape[0]
        pos = self.pos_enc(x.shape[0], left, device=x.device, dtype=x.dtype)
        if feature_mask is not None:
            x = x * feature_mask
        new_states = []
        for i, layer in enumerate(self.layers):
            state = None if states is None else states[i]
            x, state = layer(x, pos, attn_mask, padding_mask, chunk_frames, state)
            new_states.append(state)
            if feature_mask is not None:
                x = x * feature_mask
        if self.downsample is not None and self.bypass is not None:
            x = self.bypass(x_in, upsample(x, ds, x_in.shape[0]))
        return x, None if states is None else new_states
