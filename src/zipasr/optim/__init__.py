"""ScaledAdam and the Eden schedule, the Zipformer paper's optimizer (usable with any model)."""

from __future__ import annotations

from .diagnostics import GradientReport, GradientShare, dominant_gradients
from .eden import Eden
from .param_groups import lr_scaled_param_groups
from .scaled_adam import ScaledAdam

__all__ = [
    "Eden",
    "GradientReport",
    "GradientShare",
    "ScaledAdam",
    "dominant_gradients",
    "lr_scaled_param_groups",
]
