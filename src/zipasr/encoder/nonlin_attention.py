"""NonlinAttention: attention-weighted averaging of a gated value, sharing the block's weights."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zipasr.nn.scaled_init import scaled_linear
from zipasr.regularizers import Balancer, Whiten
from zipasr.regularizers.whiten import whitening_schedule
from zipasr.schedule import Schedule, TrainingClock


class NonlinAttention(nn.Module):
    """out = W_out((A @ (a * tanh(s))) * g) with (s, a, g) = W_in(x) and A one head's weights.

    Streaming passes the gated values of the L frames before x as ``cached`` (the first L of
    the weights' K keys) and gets the last L back as the new cache.

    Args:
        dim: C.
        hidden: h, the width of the gated value (3C/4 in the recipe).

    Shapes:
        x: (T, B, C); weights: (1, B, T, K); cached: (1, B, L, h) or None  ->  (T, B, C) and the
        new (1, B, L, h) or None
    """

    def __init__(self, dim: int, hidden: int, clock: TrainingClock) -> None:
        super().__init__()
        self.hidden = hidden
        self.in_proj = nn.Linear(dim, 3 * hidden)  # [tanh gate s | value a | output gate g]
        self.out_proj = scaled_linear(hidden, dim, initial_scale=0.05)
        self.gate_balancer = Balancer(
            hidden, -1,
            min_positive=Schedule((0.0, 0.25), (20000.0, 0.05)),
            max_positive=Schedule((0.0, 0.75), (20000.0, 0.95)),
            min_abs=0.5, max_abs=5.0, clock=clock,
        )  # fmt: skip
        self.value_whiten = Whiten(1, whitening_schedule(5.0), grad_scale=0.01, clock=clock)
        self.out_whiten = Whiten(
            1, whitening_schedule(5.0, ratio=3.0), grad_scale=0.01, clock=clock
        )

    def gated_value(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(T, B, C) -> the value a * tanh(s), (T, B, h), and the output gate g, (T, B, h)."""
        h = self.hidden
        y = self.in_proj(x)
        s, a, g = y[..., :h], y[..., h : 2 * h], y[..., 2 * h :]
        a = self.value_whiten(a * torch.tanh(self.gate_balancer(s)))
        return a, g

    def forward(
        self, x: Tensor, weights: Tensor, cached: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        a, g = self.gated_value(x)
        values = a.permute(1, 0, 2).unsqueeze(0)  # (1, B, T, h)
        if cached is not None:
            values = torch.cat((cached, values), dim=2)
        a = torch.matmul(weights, values).squeeze(0).permute(1, 0, 2)  # (T, B, h)
        new_cache = None if cached is None else values[:, :, values.shape[2] - cached.shape[2] :]
        return self.out_whiten(self.out_proj(a * g)), new_cache
