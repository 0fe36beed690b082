"""SwooshL and SwooshR, the paper's replacements for Swish.

    SwooshL(x) = log(1 + exp(x - 4)) - 0.08 x - 0.035
    SwooshR(x) = log(1 + exp(x - 1)) - 0.08 x - 0.313261687      (SwooshR(0) ~ 0)

Their derivative, sigmoid(x - shift) - 0.08, lies in (-0.08, 0.92). In training we save it
instead of keeping the float input alive. On GPUs, where activation memory is the limit, it is
kept as one byte per element, stochastically rounded so that the stored gradient is unbiased
(a 4x saving on the largest activations of the model). On CPUs, where time is the limit and
drawing a random number per element costs more than the rest of the function, it is kept as
float16 (2 bytes, round to nearest, relative error < 1e-3). The forward is always computed in
float32 and cast back, so it is correct under fp16/bf16 autocast.

In eager float32 CPU inference the softplus is written as log(exp(-offset) + exp(x - shift -
offset)) = softplus(x - shift) - offset, three in-place passes with the CPU's fast exp and log,
instead of torch's softplus, whose log1p made it the encoder's costliest elementwise operation
(Zipformer-M, 1 x 30 s, 2 threads: 41 ms of 410, 45 M elements; the whole function takes about
half the time this way). The values agree with softplus's to a few float32 ulps (at most
7.6e-6, where |y| is about 70). Where exp overflows (x - shift - offset above 88.7, seen by a
sum of the result) and on small tensors torch's softplus is used.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zipasr.nn.inference import blockwise_applies

_SLOPE = 0.08
_DERIV_MIN = -_SLOPE
_DERIV_RANGE = 1.0  # sigmoid(.) - 0.08 lies in (-0.08, 0.92)

_L_SHIFT, _L_OFFSET = 4.0, 0.035
_R_SHIFT, _R_OFFSET = 1.0, 0.313261687


#: Smallest tensor for the exp/log form: below it (a few frames of a narrow layer, as in most
#: of a small model's streaming chunk) its extra calls would cost more than the softplus.
EXP_FORM_MIN_NUMEL = 1 << 14


def _swoosh(x: Tensor, shift: float, offset: float) -> Tensor:
    """The function on float32 ``x``, without autograd; a new tensor."""
    # Not compiling before the size test (it would be a guard of the graph); the size before
    # blockwise_applies, which costs 4 us, as much as a small tensor's whole function.
    if (
        not torch.compiler.is_compiling()
        and x.numel() >= EXP_FORM_MIN_NUMEL
        and blockwise_applies(x)
    ):
        y = torch.sub(x, shift + offset).exp_().add_(math.exp(-offset)).log_()
        y.sub_(x, alpha=_SLOPE)
        # exp overflows above 88.7 (x - shift - offset): the sum, a fast reduction, is then
        # infinite or NaN. (A NaN or infinite input, or a sum that overflows on its own, also
        # lands here, and gets the same values as softplus's.)
        # (A float read back: torch.isfinite on the 0-d sum is several operators, 20 us.)
        if math.isfinite(y.sum().item()):
            return y
    return F.softplus(x - shift).sub_(x, alpha=_SLOPE).sub_(offset)


class _SwooshFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, shift: float, offset: float) -> Tensor:  # type: ignore[override]
        x32 = x.float()
        z = x32 - shift
        # torch's softplus here, not the exp/log form: training's tensors are larger and come
        # from memory, and its three extra passes over them cost more than they save
        # (Zipformer-S training step 1 x 30 s, 2 threads: 7-10% slower with it).
        y = F.softplus(z).sub_(x32, alpha=_SLOPE).sub_(offset)
        # z is not needed after the softplus: the sigmoid overwrites it, and backward works in
        # place on its copy of the derivative (fewer fresh tensors of this size; the same
        # values). Forward and backward of this function alone, 2 threads: 14-40% less time at
        # Zipformer-M's feed-forward sizes; in a whole training step within this host's noise.
        sig = z.sigmoid_()
        if x.is_cuda:
            # Stochastic rounding to 256 levels keeps the quantised gradient unbiased. The level
            # is (deriv - _DERIV_MIN) / _DERIV_RANGE * 255 with deriv = sig - _SLOPE and
            # _DERIV_MIN = -_SLOPE: the sigmoid itself, scaled.
            levels = sig.mul_(255.0 / _DERIV_RANGE)
            levels.add_(torch.rand_like(levels)).floor_().clamp_(0, 255)
            ctx.save_for_backward(levels.to(torch.uint8))
        else:
            ctx.save_for_backward(sig.to(torch.float16))
        return y.to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (saved,) = ctx.saved_tensors
        deriv = saved.to(grad.dtype, copy=True)  # a copy even in float16: kept for a 2nd backward
        if saved.dtype == torch.uint8:
            deriv.mul_(_DERIV_RANGE / 255.0).add_(_DERIV_MIN)
        else:
            deriv.sub_(_SLOPE)
        return deriv.mul_(grad), None, None


def _apply(x: Tensor, shift: float, offset: float) -> Tensor:
    if torch.is_grad_enabled() and x.requires_grad:
        return _SwooshFunction.apply(x, shift, offset)  # type: ignore[no-any-return]
    if x.dtype in (torch.float16, torch.bfloat16):
        return _swoosh(x.float(), shift, offset).to(x.dtype)
    return _swoosh(x, shift, offset)


def swoosh_l(x: Tensor) -> Tensor:
    """SwooshL, elementwise; any shape."""
    return _apply(x, _L_SHIFT, _L_OFFSET)


def swoosh_r(x: Tensor) -> Tensor:
    """SwooshR, elementwise; any shape."""
    return _apply(x, _R_SHIFT, _R_OFFSET)


class SwooshL(nn.Module):
    """SwooshL(x) = log(1 + exp(x - 4)) - 0.08 x - 0.035, elementwise; any shape."""

    def forward(self, x: Tensor) -> Tensor:
        return swoosh_l(x)


class SwooshR(nn.Module):
    """SwooshR(x) = log(1 + exp(x - 1)) - 0.08 x - 0.313261687, elementwise; any shape."""

    def forward(self, x: Tensor) -> Tensor:
        return swoosh_r(x)
