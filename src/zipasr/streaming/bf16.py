"""Bfloat16 linear layers for the compiled chunk step (``StreamingConfig(precision="bf16")``).

One stream's chunk step multiplies a few rows (2-16 frames) by every weight of the encoder, so
on a CPU it is bound by reading the weights, and float32 matrix products of so few rows run
far below the memory's speed. With the encoder layers' weights in bfloat16 there is half as
much to read, and inductor's own GEMM kernels (AMX or AVX-512 BF16 micro-kernels, chosen at
compile time by ``max_autotune``) multiply them several times faster than oneDNN's float32
ones. Only the linear layers change: their weights and inputs are rounded to bfloat16, the
products are summed in float32 by the kernels, the result is rounded to bfloat16 (the
compiled step may keep it in float32) and the bias is added in float32; attention,
convolutions and everything else stay float32.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zipasr.encoder.zipformer import Zipformer


class Bf16Linear(nn.Module):
    """An inference copy of an ``nn.Linear`` with its weight in bfloat16.

    Shapes:
        x: (..., in_features) float32  ->  (..., out_features) float32.
    """

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().to(torch.bfloat16)
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None
        if linear.bias is not None:
            self.bias = nn.Parameter(linear.bias.detach().clone(), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        y = F.linear(x.to(torch.bfloat16), self.weight).to(x.dtype)
        return y if self.bias is None else y + self.bias


def with_bf16_linears(encoder: Zipformer) -> Zipformer:
    """A copy of ``encoder`` for inference (eval mode, no gradients) whose layers' linear
    layers are :class:`Bf16Linear`. The front end is left as it is (its projection's weight is
    read directly, not called as a module)."""
    low = copy.deepcopy(encoder).eval().requires_grad_(False)
    for p in low.parameters():
        p.grad = None
    for module in low.stacks.modules():
        for name, child in module.named_children():
            if type(child) is nn.Linear:
                setattr(module, name, Bf16Linear(child))
    return low
