"""Depthwise convolution over time on channels-last (B, T, C) tensors.

A depthwise 1-D convolution is run as a 2-D convolution of height 1 on a channels-last view
of the (B, T, C) data: the same arithmetic, with no layout copy, and on CPU an order of magnitude
faster than ``conv1d`` on (B, C, T) (oneDNN's channels-last depthwise kernel).

A convolution call has a fixed cost of tens of microseconds, more than the arithmetic of the
few-frame inputs that streaming gives the lower-rate stacks. For those, ``direct=True``
computes the same sums as a product with a strided view of the frame windows and a sum over
the taps (:func:`prefers_direct` says when that is faster). The choice depends on the length,
so only callers with a fixed length make it (the streaming chunk step), and the caller sets
the threshold: export sets it to 0 (see ``zipasr.export.adapters``), because the measurement
was of PyTorch on CPU, not of ONNX runtimes.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zipasr.nn.inference import plain

#: Output frames x kernel taps up to which the direct product beats a convolution call on CPU.
SMALL_WORK = 512


def prefers_direct(
    x: Tensor, output_frames: int, kernel_size: int, max_work: int = SMALL_WORK
) -> bool:
    """Whether ``direct=True`` is the faster way to convolve ``x`` to this many output frames:
    output frames x taps at most ``max_work`` (0 = never).

    Measured for float32 on CPU only; elsewhere (other devices, autocast) it says no.
    """
    return (
        output_frames * kernel_size <= max_work
        and x.device.type == "cpu"
        and not torch.is_autocast_enabled("cpu")
    )


def depthwise_conv_time(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    left_pad: int,
    right_pad: int,
    *,
    direct: bool = False,
) -> Tensor:
    """Depthwise convolution along T with zero padding.

    Args:
        x: (B, T, C).
        weight: (C, 1, K), nn.Conv1d's layout.
        bias: (C,) or None.
        left_pad, right_pad: zero frames added before and after.
        direct: sum the taps without a convolution call (for short inputs).

    Returns:
        (B, T + left_pad + right_pad - K + 1, C), contiguous.
    """
    if direct:
        if left_pad or right_pad:
            x = F.pad(x, (0, 0, left_pad, right_pad))
        # (B, T', K, C), a view with channels innermost, times the (1, K, C) taps.
        windows = x.unfold(1, weight.shape[-1], 1).transpose(2, 3)
        y = (windows * weight.permute(1, 2, 0).contiguous()).sum(dim=2)
        return y if bias is None else y + bias
    if _fast_backward_applies(x, weight, left_pad, right_pad):
        return _DepthwiseConvTime.apply(x, weight, bias, left_pad, right_pad)  # type: ignore[no-any-return]
    return _conv(x, weight, bias, left_pad, right_pad)


def _conv(x: Tensor, weight: Tensor, bias: Tensor | None, left_pad: int, right_pad: int) -> Tensor:
    symmetric = left_pad == right_pad
    if not symmetric:
        x = F.pad(x, (0, 0, left_pad, right_pad))
    # (B, C, 1, T), channels-last in memory. The view gives the batch axis its canonical
    # stride: a batch of one transposed from (T, 1, C), as the convolution module makes it when
    # no padding mask is applied (a streaming step), is contiguous with a batch stride of C,
    # which oneDNN does not read as channels-last (an offline 1 x 5 s forward run without
    # masks took 2.5-4x as long in these convolutions). Not a no-op: ``contiguous()`` keeps
    # such strides.
    x4 = x.contiguous().view(x.shape).transpose(1, 2).unsqueeze(2)
    y = F.conv2d(
        x4, weight.unsqueeze(2), bias, padding=(0, left_pad if symmetric else 0), groups=x.shape[2]
    )
    return y.squeeze(2).transpose(1, 2).contiguous()  # (B, T', C); a view when channels-last


def _fast_backward_applies(x: Tensor, weight: Tensor, left_pad: int, right_pad: int) -> bool:
    """Whether to differentiate through :class:`_DepthwiseConvTime`: on CPU, in float32
    training outside autocast, ``torch.jit.trace``, ONNX export (which want plain ops) and
    ``torch.func`` transforms or forward-mode AD (which the Function does not implement);
    ``torch.compile`` traces it."""
    kernel = weight.shape[-1]
    return (
        torch.is_grad_enabled()
        and (x.requires_grad or weight.requires_grad)
        and x.device.type == "cpu"
        and x.dtype == weight.dtype == torch.float32
        and 0 <= left_pad < kernel
        and 0 <= right_pad < kernel
        and not torch.is_autocast_enabled("cpu")
        and not torch.jit.is_tracing()
        and not torch.onnx.is_in_onnx_export()
        and (torch.compiler.is_compiling() or (plain(x) and plain(weight)))
    )


class _DepthwiseConvTime(torch.autograd.Function):
    """The convolution of :func:`depthwise_conv_time` with a backward made of two more
    channels-last convolutions. On CPU, torch's own backward of the channels-last depthwise
    convolution took 25-100x its forward (Zipformer-S training: 13% of a step); this one takes
    a few forwards' time, for the same gradient (float32 sums in another order). The input's
    gradient is the convolution of the output's gradient with the flipped kernel; the
    kernel's gradient is, per channel, the correlation of the padded input with the output's
    gradient over batch and time: a depthwise convolution of the input, laid out (1, C, B,
    T + pads), with a (B, T') kernel per channel.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, left_pad: int, right_pad: int
    ) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.pads = (left_pad, right_pad)
        ctx.has_bias = bias is not None
        return _conv(x, weight, bias, left_pad, right_pad)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        left_pad, right_pad = ctx.pads
        kernel = weight.shape[-1]
        grad = grad.contiguous()
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            flipped = weight.flip(-1)
            grad_x = _conv(grad, flipped, None, kernel - 1 - left_pad, kernel - 1 - right_pad)
        if ctx.needs_input_grad[1]:
            padded = F.pad(x, (0, 0, left_pad, right_pad))  # (B, T + pads, C)
            b, t, c = grad.shape
            # (1, C, B, T + pads) and (C, 1, B, T'): channels-last (channels innermost).
            inputs = padded.contiguous().permute(2, 0, 1).unsqueeze(0)
            kernels = grad.permute(2, 0, 1).unsqueeze(1)
            kernels = kernels.contiguous(memory_format=torch.channels_last)
            grad_weight = F.conv2d(inputs, kernels, groups=c).reshape(weight.shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=(0, 1))
        return grad_x, grad_weight, grad_bias, None, None


class DepthwiseConv1d(nn.Module):
    """Depthwise convolution over time with "same" zero padding (K odd).

    Parameters keep ``nn.Conv1d``'s names, shapes and initialisation.

    Shapes:
        x: (B, T, C) -> (B, T, C)
    """

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size={kernel_size} must be odd")
        conv = nn.Conv1d(channels, channels, kernel_size, groups=channels)
        self.weight, self.bias = conv.weight, conv.bias

    def forward(self, x: Tensor) -> Tensor:
        pad = self.weight.shape[-1] // 2
        return depthwise_conv_time(x, self.weight, self.bias, pad, pad)
