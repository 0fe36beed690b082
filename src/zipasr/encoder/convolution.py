"""The convolution module: GLU -> depthwise conv over time -> SwooshR -> Linear."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zipasr.nn.activations import swoosh_r
from zipasr.nn.causal_conv import ChunkCausalDepthwiseConv1d
from zipasr.nn.depthwise import DepthwiseConv1d
from zipasr.nn.scaled_init import scaled_linear
from zipasr.regularizers import Balancer, Whiten
from zipasr.regularizers.whiten import whitening_schedule
from zipasr.schedule import Schedule, TrainingClock


class ConvolutionModule(nn.Module):
    """Gated depthwise convolution over time; no normalisation inside.

    Padded frames are zeroed right before the depthwise convolution, so padding never leaks
    into valid frames through it. In causal mode the convolution is chunk-causal
    (:class:`ChunkCausalDepthwiseConv1d`) and ``chunk_frames`` selects the chunk; a causal
    module also streams: with a ``cache`` of the gated values of the K//2 frames before x
    (which is then one chunk), it returns the new cache.

    Args:
        dim: C.
        kernel_size: K (odd).
        causal: use the chunk-causal convolution.

    Shapes:
        x: (T, B, C); padding_mask: (B, T) bool, True = padding; cache: (B, C, K//2) or None
        ->  (T, B, C) and the new cache or None
    """

    def __init__(self, dim: int, kernel_size: int, causal: bool, clock: TrainingClock) -> None:
        super().__init__()
        self.dim = dim
        self.in_proj = nn.Linear(dim, 2 * dim)  # [value | sigmoid gate]
        self.depthwise: nn.Module
        if causal:
            self.depthwise = ChunkCausalDepthwiseConv1d(dim, kernel_size)
        else:
            self.depthwise = DepthwiseConv1d(dim, kernel_size)
        self.out_proj = scaled_linear(dim, dim, initial_scale=0.05)
        self.gate_balancer = Balancer(
            dim, -1,
            min_positive=Schedule((0.0, 0.05), (8000.0, 0.025)), max_positive=1.0,
            min_abs=1.5, max_abs=Schedule((0.0, 5.0), (8000.0, 10.0), default=1.0), clock=clock,
        )  # fmt: skip
        self.conv_balancer = Balancer(
            dim, -1,
            min_positive=Schedule((0.0, 0.1), (8000.0, 0.05)), max_positive=1.0,
            min_abs=Schedule((0.0, 0.2), (20000.0, 0.5)), max_abs=10.0, clock=clock,
        )  # fmt: skip
        self.whiten = Whiten(1, whitening_schedule(7.5), grad_scale=0.01, clock=clock)

    def glu(self, x: Tensor, padding_mask: Tensor | None) -> Tensor:
        """(T, B, C) -> the gated value as (B, T, C), zero on padded frames."""
        y = self.in_proj(x)
        a = y[..., : self.dim] * torch.sigmoid(self.gate_balancer(y[..., self.dim :]))
        a = a.transpose(0, 1)
        if padding_mask is not None:
            a = a.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        return a.contiguous()

    def project(self, a: Tensor) -> Tensor:
        """(B, T, C) convolution output -> (T, B, C) module output."""
        a = self.whiten(swoosh_r(self.conv_balancer(a)))
        return self.out_proj(a).transpose(0, 1)

    def forward(
        self,
        x: Tensor,
        padding_mask: Tensor | None = None,
        chunk_frames: int | None = None,
        cache: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        a = self.glu(x, padding_mask)
        if not isinstance(self.depthwise, ChunkCausalDepthwiseConv1d):
            if cache is not None:
                raise ValueError("streaming needs a causal model (ZipformerConfig.causal=True)")
            return self.project(self.depthwise(a)), None
        # The cache keeps the reference's (B, C, K//2) layout; the convolution takes (B, K//2, C).
        a, cache = self.depthwise(a, chunk_frames, None if cache is None else cache.transpose(1, 2))
        return self.project(a), None if cache is None else cache.transpose(1, 2)
