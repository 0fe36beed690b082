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

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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
    symmetric = left_pad == right_pad
    if not symmetric:
        x = F.pad(x, (0, 0, left_pad, right_pad))
    x4 = x.contiguous().transpose(1, 2).unsqueeze(2)  # (B, C, 1, T), channels-last in memory
    y = F.conv2d(
        x4, weight.unsqueeze(2), bias, padding=(0, left_pad if symmetric else 0), groups=x.shape[2]
    )
    return y.squeeze(2).transpose(1, 2).contiguous()  # (B, T', C); a view when channels-last


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
