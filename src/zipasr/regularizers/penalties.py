"""Gradient-only constraints: the forward value never changes, in training or in eval."""

from __future__ import annotations

import torch
from torch import Tensor

from zipasr.regularizers.base import TrainingOnly, coin_flip
from zipasr.schedule import Schedule, TrainingClock, as_schedule


class _ScaleGradFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, alpha: float) -> Tensor:  # type: ignore[override]
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return grad * ctx.alpha, None


class ScaleGrad(TrainingOnly):
    """Identity in forward; multiplies the gradient by ``alpha`` in training."""

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and x.requires_grad):
            return x
        return _ScaleGradFunction.apply(x, self.alpha)  # type: ignore[no-any-return]


class _LimitFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, low: float, high: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.low, ctx.high = low, high
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        # A positive gradient makes the optimiser decrease x: flip it where x is already too low,
        # and flip negative gradients where x is already too high.
        flip = ((grad > 0) & (x < ctx.low)) | ((grad < 0) & (x > ctx.high))
        return torch.where(flip, -grad, grad), None, None


class ParamLimit(TrainingOnly):
    """Softly keeps a parameter inside [low, high]: on a fraction ``prob`` of training calls,
    gradient components that would push an out-of-range value further out are sign-flipped.
    The returned value is the parameter itself (never clamped)."""

    def __init__(
        self,
        low: float | Schedule,
        high: float | Schedule,
        *,
        prob: float = 0.6,
        clock: TrainingClock | None = None,
    ) -> None:
        super().__init__(clock)
        self.low, self.high, self.prob = as_schedule(low), as_schedule(high), prob

    def forward(self, param: Tensor) -> Tensor:
        if not (self.training and param.requires_grad) or not coin_flip(self.prob):
            return param
        low, high = self.scheduled(self.low), self.scheduled(self.high)
        return _LimitFunction.apply(param, low, high)  # type: ignore[no-any-return]


class _AbsPenaltyFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, limit: float, penalty: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.limit, ctx.penalty = limit, penalty
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        extra = (x.abs() > ctx.limit).to(grad.dtype) * x.sign().to(grad.dtype) * ctx.penalty
        return grad + extra, None, None


class AbsValuePenalty(TrainingOnly):
    """Adds ``penalty * sign(x)`` to the gradient where |x| > ``limit``, on a fraction ``prob``
    of training calls. Used on attention scores so that the softmax cannot saturate."""

    def __init__(self, limit: float = 25.0, penalty: float = 1e-4, prob: float = 0.1) -> None:
        super().__init__()
        self.limit, self.penalty, self.prob = limit, penalty, prob

    def forward(self, x: Tensor) -> Tensor:
        return self.penalize(x) if self.draw(x.requires_grad) else x

    def draw(self, requires_grad: bool) -> bool:
        """Draws whether a call on a tensor with this ``requires_grad`` penalises, as
        :meth:`forward` draws; then :meth:`penalize` penalises. (Called directly, these run
        no forward hooks.)"""
        return self.training and requires_grad and coin_flip(self.prob)

    def penalize(self, x: Tensor) -> Tensor:
        """``x`` with the penalty on its gradient (no draw)."""
        return _AbsPenaltyFunction.apply(x, self.limit, self.penalty)  # type: ignore[no-any-return]
