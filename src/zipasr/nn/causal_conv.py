"""Chunk-causal depthwise convolution, the convolution of the streaming Zipformer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zipasr.nn.depthwise import depthwise_conv_time


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
        self._gain_cache: tuple[tuple[int, int, int], Tensor] | None = None

    def chunk_gain(self, chunk_frames: int) -> Tensor:
        """The (C, chunk_frames) gain applied to the chunkwise branch."""
        k = self.kernel_size
        left, right = self.chunkwise_scale[0], self.chunkwise_scale[1]
        # Pad by the whole chunk, then cut: one branch-free graph for any chunk length.
        left = F.pad(left, (0, chunk_frames))[:, :chunk_frames]
        right = F.pad(right, (chunk_frames, 0))[:, k:]
        return 1.0 + (left + right)

    def _streaming_gain(self, chunk_frames: int) -> Tensor:
        """(chunk_frames, C) chunk gain; without autograd, computed once per chunk length and
        weight version (a stream asks for the same one at every chunk)."""
        tracing = torch.compiler.is_compiling() or torch.compiler.is_exporting()
        if tracing or (torch.is_grad_enabled() and self.chunkwise_scale.requires_grad):
            return self.chunk_gain(chunk_frames).t()
        key = (chunk_frames, self.chunkwise_scale._version, self.chunkwise_scale.data_ptr())
        cached = self._gain_cache
        if cached is None or cached[0] != key:
            with torch.inference_mode():
                cached = (key, self.chunk_gain(chunk_frames).t().contiguous())
            self._gain_cache = cached
        return cached[1]

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
        half = self.kernel_size // 2
        frames = torch.cat((cache, x), dim=1)
        causal = depthwise_conv_time(frames, self.causal.weight, self.causal.bias, 0, 0)
        chunk = depthwise_conv_time(x, self.chunkwise.weight, self.chunkwise.bias, half, half)
        out = chunk * self._streaming_gain(x.shape[1]) + causal
        return out, frames[:, frames.shape[1] - half :]
