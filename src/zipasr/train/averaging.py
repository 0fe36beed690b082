"""The recipe's running model average (spec 5.6), kept on the main process.

Every ``period`` optimizer steps the average moves towards the current weights so that it stays
the arithmetic mean of the models seen at those steps since ``start_step``:

    avg <- avg * (1 - period / n) + model * (period / n),   n = step - start_step

With ``start_step = 0`` this is the recipe's ``model_avg`` (a mean since the start). Short runs do
better averaging only their later part, which is what icefall's decode-time ``--avg`` achieves
with differences of two such means; here the window start is set up front instead.
"""

from __future__ import annotations

import copy
from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


class ModelAverager:
    """A float64 copy of ``model`` holding the running mean of its weights.

    Args:
        model: the (unwrapped) model being trained; its floating buffers are averaged too.
        period: optimizer steps between updates (recipe: 200).
        start_step: the first step the average covers.
    """

    def __init__(self, model: nn.Module, period: int, start_step: int = 0) -> None:
        if period < 1 or start_step < 0:
            raise ValueError(f"period={period} must be >= 1 and start_step={start_step} >= 0")
        self.period = period
        self.start_step = start_step
        self.model = copy.deepcopy(model).to(torch.float64).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def due(self, step: int) -> bool:
        """Whether step ``step`` (1-based count of optimizer steps) updates the average."""
        n = step - self.start_step
        return n > 0 and n % self.period == 0

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Folds ``model``'s current weights into the mean (call when :meth:`due`)."""
        n = step - self.start_step
        weight = self.period / n  # 1.0 at the first update: the mean of one model
        current = model.state_dict()
        for name, avg in self.model.state_dict().items():
            if avg.is_floating_point():
                avg.mul_(1 - weight).add_(current[name].to(torch.float64), alpha=weight)

    def averaged(self, like: M) -> M:
        """A copy of ``like`` (same dtype) carrying the averaged weights."""
        out = copy.deepcopy(like)
        state = {k: v.to(like.state_dict()[k].dtype) for k, v in self.model.state_dict().items()}
        out.load_state_dict(state)
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The float64 average (saved as is, so a resumed run continues bit for bit)."""
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
