"""The reference's scaled initialisations, as plain torch layers.

A "scaled" layer is an ordinary ``nn.Linear``/``nn.Conv*d`` whose default initial weight is
multiplied by ``initial_scale`` and whose bias is redrawn from U(-0.1 s, 0.1 s). Nothing about
the layer differs after construction, so these are functions, not classes.
"""

from __future__ import annotations

import torch
from torch import nn


def _rescale(layer: nn.Linear | nn.Conv1d | nn.Conv2d, initial_scale: float) -> None:
    with torch.no_grad():
        layer.weight.mul_(initial_scale)
        if layer.bias is not None:
            nn.init.uniform_(layer.bias, -0.1 * initial_scale, 0.1 * initial_scale)


def scaled_linear(
    in_features: int, out_features: int, *, bias: bool = True, initial_scale: float = 1.0
) -> nn.Linear:
    """``nn.Linear`` with its initial weight scaled by ``initial_scale``."""
    layer = nn.Linear(in_features, out_features, bias=bias)
    _rescale(layer, initial_scale)
    return layer


def scaled_conv1d(*args, initial_scale: float = 1.0, **kwargs) -> nn.Conv1d:  # type: ignore[no-untyped-def]
    """``nn.Conv1d(*args, **kwargs)`` with its initial weight scaled by ``initial_scale``."""
    layer = nn.Conv1d(*args, **kwargs)
    _rescale(layer, initial_scale)
    return layer


def scaled_conv2d(*args, initial_scale: float = 1.0, **kwargs) -> nn.Conv2d:  # type: ignore[no-untyped-def]
    """``nn.Conv2d(*args, **kwargs)`` with its initial weight scaled by ``initial_scale``."""
    layer = nn.Conv2d(*args, **kwargs)
    _rescale(layer, initial_scale)
    return layer
