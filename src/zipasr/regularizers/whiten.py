"""Whiten: discourages channels from becoming correlated, by editing gradients only."""

from __future__ import annotations

import torch
from torch import Tensor

from zipasr.regularizers.base import TrainingOnly, coin_flip
from zipasr.schedule import Schedule, TrainingClock, as_schedule


def whitening_metric(x: Tensor, num_groups: int) -> Tensor:
    """>= 1, and 1 exactly when each group's centred covariance is a multiple of I (same for
    all groups). x: (..., C) with C divisible by ``num_groups``; returns a 0-dim tensor."""
    x = x.reshape(-1, x.shape[-1])
    frames, channels = x.shape
    per_group = channels // num_groups
    x = x.reshape(frames, num_groups, per_group).transpose(0, 1)
    x = x - x.mean(dim=1, keepdim=True)
    cov = torch.matmul(x.transpose(1, 2), x)  # (G, c, c)
    mean_diag = torch.diagonal(cov, dim1=1, dim2=2).mean()
    mean_diag_of_square = (cov**2).sum() / (num_groups * per_group)
    return mean_diag_of_square / (mean_diag**2 + 1e-20)


class _WhitenFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, module: Whiten) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.module = module
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        w: Whiten = ctx.module
        with torch.enable_grad(), torch.autocast(x.device.type, enabled=False):
            xf = x.detach().float().requires_grad_(True)
            metric = whitening_metric(xf, w.num_groups)
            over = bool(metric >= w.scheduled(w.whitening_limit))
            # Act often while the limit is violated and rarely once it holds.
            w.prob = w.max_prob if over else w.min_prob
            if not over:
                return grad, None
            (penalty,) = torch.autograd.grad(metric, xf)
        scale = w.grad_scale * grad.float().norm() / (penalty.norm() + 1e-20)
        return grad + (penalty * scale).to(grad.dtype), None


class Whiten(TrainingOnly):
    """Identity in forward; in backward (sometimes) adds the gradient of the whitening metric
    when it exceeds ``whitening_limit``. x: (..., C), channels last."""

    def __init__(
        self,
        num_groups: int,
        whitening_limit: float | Schedule,
        *,
        prob: tuple[float, float] = (0.025, 0.25),
        grad_scale: float = 0.01,
        clock: TrainingClock | None = None,
    ) -> None:
        super().__init__(clock)
        self.num_groups = num_groups
        self.whitening_limit = as_schedule(whitening_limit)
        self.min_prob, self.max_prob = prob
        self.prob = self.min_prob
        self.grad_scale = grad_scale

    def training_state(self) -> dict[str, float]:
        """The adaptive probability of acting (``max_prob`` while the limit was last violated,
        else ``min_prob``)."""
        return {"prob": self.prob}

    def load_training_state(self, state: dict[str, float]) -> None:
        self.prob = float(state["prob"])

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and x.requires_grad) or self.grad_scale == 0:
            return x
        if not coin_flip(self.prob):
            return x
        return _WhitenFunction.apply(x, self)  # type: ignore[no-any-return]


def whitening_schedule(start: float, ratio: float = 2.0) -> Schedule:
    """The recipe's whitening limit: ``start`` growing to ``start * ratio`` over 20k batches."""
    return Schedule((0.0, start), (20000.0, ratio * start), default=start)
