"""Chunk-causal depthwise convolution, the convolution of the streaming Zipformer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zipasr.nn.depthwise import depthwise_conv_time, prefers_direct


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

    Shapes:
        x: (B, T, C) -> (B, T, C)
    """

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size={kernel_size} must be odd")
        self.kernel_size = kernel_size
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

    def forward(self, x: Tensor, chunk_frames: int | None = None) -> Tensor:
        batch, frames, channels = x.shape
        chunk = frames if chunk_frames is None or chunk_frames > frames else chunk_frames
        half = self.kernel_size // 2
        causal = depthwise_conv_time(x, self.causal.weight, self.causal.bias, half, 0)

        right_pad = -frames % chunk
        chunks = F.pad(x, (0, 0, 0, right_pad)) if right_pad else x
        chunks = chunks.reshape(-1, chunk, channels)  # (B * num_chunks, chunk, C)
        chunks = depthwise_conv_time(chunks, self.chunkwise.weight, self.chunkwise.bias, half, half)
        chunks = chunks * self.chunk_gain(chunk).t()
        chunks = chunks.reshape(batch, -1, channels)[:, :frames]
        return chunks + causal

    def forward_chunk(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        """Streaming: one chunk x (B, T, C), its own chunk, after ``cache`` (B, K//2, C), the last
        K//2 frames before it. Returns the output (B, T, C) and the new cache."""
        half, frames_in, k = self.kernel_size // 2, x.shape[1], self.kernel_size
        frames = torch.cat((cache, x), dim=1)
        causal = depthwise_conv_time(
            frames, self.causal.weight, self.causal.bias, 0, 0,
            direct=prefers_direct(x, frames_in, half + 1),
        )  # fmt: skip
        chunk = depthwise_conv_time(
            x, self.chunkwise.weight, self.chunkwise.bias, half, half,
            direct=prefers_direct(x, frames_in, k),
        )  # fmt: skip
        out = chunk * self.chunk_gain(frames_in).t() + causal
        return out, frames[:, frames.shape[1] - half :]
