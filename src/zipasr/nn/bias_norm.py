"""BiasNorm, the paper's replacement for LayerNorm."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zipasr.regularizers.penalties import ParamLimit

# The recipe keeps log_scale softly inside this range while training.
LOG_SCALE_RANGE = (-1.5, 1.5)


class BiasNorm(nn.Module):
    """``x * exp(log_scale) / rms(x - bias)``, the rms taken over the last (channel) axis.

    Unlike LayerNorm the mean is not removed and there is no epsilon: the learned ``bias`` only
    enters the rms, so the output keeps a length that the next layer can read.

    Args:
        num_channels: C.

    Shapes:
        x: (..., C) -> (..., C)
    """

    def __init__(self, num_channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.empty(num_channels).normal_(mean=0.0, std=1e-4))
        self.log_scale = nn.Parameter(torch.tensor(1.0))
        self.limit = ParamLimit(*LOG_SCALE_RANGE)

    def forward(self, x: Tensor) -> Tensor:
        scale = self.limit(self.log_scale).exp()
        return x * ((x - self.bias).pow(2).mean(dim=-1, keepdim=True).pow(-0.5) * scale)
