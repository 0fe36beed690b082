"""Bypass: a learned per-channel interpolation between a module's input and output."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zipasr.regularizers import LayerSkip, ParamLimit
from zipasr.schedule import Schedule, TrainingClock

#: While training, the scale is kept softly in [min, 1]; min relaxes from 0.9 to 0.2 so that
#: early on every module is forced to contribute.
BYPASS_MIN_SCALE = Schedule((0.0, 0.9), (20000.0, 0.2))


class Bypass(nn.Module):
    """``x_in + (x - x_in) * scale``, scale a learned (C,) vector (0 = skip the module).

    In eval the raw scale is used. In training it is softly limited to [min, 1] and, if a
    ``skip_rate`` is given, set to 0 for a random subset of utterances (layer skipping).

    Shapes:
        x_in, x: (T, B, C) -> (T, B, C)
    """

    def __init__(
        self, dim: int, clock: TrainingClock, skip_rate: float | Schedule | None = None
    ) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.full((dim,), 0.5))
        self.limit = ParamLimit(BYPASS_MIN_SCALE, 1.0, clock=clock)
        self.skip = LayerSkip(0.0 if skip_rate is None else skip_rate, clock)

    def forward(self, x_in: Tensor, x: Tensor) -> Tensor:
        scale = self.skip(self.limit(self.scale), x.shape[1])
        if x_in.dtype == x.dtype == scale.dtype:
            return torch.lerp(x_in, x, scale)  # the line below, in one op
        return x_in + (x - x_in) * scale  # mixed dtypes: lerp takes one, the arithmetic promotes
