"""Chunk-causal depthwise convolution, the convolution of the streaming Zipformer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zipasr.nn.depthwise import SMALL_WORK, depthwise_conv_time, prefers_direct


class ChunkCausalDepthwiseConv1d(nn.Module):
    """A depthwise convolution over time that sees no frame beyond the end of the current chunk.

    It is the sum of two depthwise convolutions:
    - a causal one of width (K+1)//2 (frames t-K//2 ... t), and
    - a full-width one (K) computed inside each chunk separately (zero padded at chunk edges),
      multiplied by a learned per-position gain ``1 + chunkwise_scale`` near the chunk edges,
      which lets the model compensate for the frames it can't see there.
    With ``chunk_frames=None`` the whole sequence is one chunk (not causal).

    Args:
        channels: C.
        kernel_size: K, odd.

    Attributes:
        direct_max_work: with a cache (a streaming step, whose length is fixed), inputs of at
            most this many output frames x taps are convolved by summing the taps, without a
            convolution call (:func:`~zipasr.nn.depthwise.prefers_direct`); 0 keeps every call
            (export sets 0, so that exported graphs keep their Conv nodes).

    Shapes:
        x: (B, T, C); cache: (B, K//2, C) or None  ->  (B, T, C) and the new cache or None
    """

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size={kernel_size} must be odd")
        self.kernel_size = kernel_size
        self.direct_max_work = SMALL_WORK
        self.causal = nn.Conv1d(channels, channels, (kernel_size + 1) // 2, groups=channels)
        self.chunkwise = nn.Conv1d(channels, channels, kernel_size, groups=channels)
        # Rows: extra gain at the left edge of a chunk, extra gain at the right edge.
        self.chunkwise_scale = nn.Parameter(torch.zeros(2, channels, kernel_size))
        if self.causal.bias is not None:
            with torch.no_grad():
                nn.init.uniform_(self.causal.bias, -0.1, 0.1)

    def chunk_gain(self, chunk_frames: int) -> Tensor:
        """The (C, chunk_frames) gain applied to the chunkwise branch."""
        k = self.kernel_size
        left, right = self.chunkwise_scale[0], self.chunkwise_scale[1]
        if isinstance(chunk_frames, int) and chunk_frames <= k:
            # A known short chunk (every streaming step): the same values, two slices.
            return 1.0 + (left[:, :chunk_frames] + right[:, k - chunk_frames :])
        # Pad by the whole chunk, then cut: one branch-free graph for any chunk length (also a
        # symbolic one, when exporting).
        left = F.pad(left, (0, chunk_frames))[:, :chunk_frames]
        right = F.pad(right, (chunk_frames, 0))[:, k:]
        return 1.0 + (left + right)

    def forward(
        self, x: Tensor, chunk_frames: int | None = None, cache: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Convolves x chunk by chunk (``chunk_frames``; None = one chunk).

        With a ``cache`` (a streaming step), x is one whole chunk and the cache holds the K//2
        frames before it; the new cache (its last K//2 frames) is returned. Without one, zeros
        stand before x and None is returned.
        """
        batch, frames, channels = x.shape
        half, k = self.kernel_size // 2, self.kernel_size
        if cache is None:
            past, left_pad = x, half
        else:
            past, left_pad, chunk_frames = torch.cat((cache, x), dim=1), 0, frames
        causal = depthwise_conv_time(
            past, self.causal.weight, self.causal.bias, left_pad, 0,
            direct=self._direct(x, cache, half + 1),
        )  # fmt: skip

        chunk = frames if chunk_frames is None or chunk_frames > frames else chunk_frames
        chunks = x
        if chunk < frames:  # each chunk is convolved alone: they go to the batch axis
            right_pad = -frames % chunk
            chunks = F.pad(x, (0, 0, 0, right_pad)) if right_pad else x
            chunks = chunks.reshape(-1, chunk, channels)  # (B * num_chunks, chunk, C)
        chunks = depthwise_conv_time(
            chunks, self.chunkwise.weight, self.chunkwise.bias, half, half,
            direct=self._direct(x, cache, k),
        )  # fmt: skip
        chunks = chunks * self.chunk_gain(chunk).t()
        if chunk < frames:
            chunks = chunks.reshape(batch, -1, channels)[:, :frames]
        return chunks + causal, None if cache is None else past[:, past.shape[1] - half :]

    def _direct(self, x: Tensor, cache: Tensor | None, taps: int) -> bool:
        # Only a streaming step has a fixed length; a choice by length elsewhere would make
        # compiled or exported graphs depend on it.
        return cache is not None and prefers_direct(x, x.shape[1], taps, self.direct_max_work)
