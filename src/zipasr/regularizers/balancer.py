"""Balancer: keeps per-channel activation statistics in range by editing gradients only."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zipasr.regularizers.base import TrainingOnly, coin_flip
from zipasr.schedule import Schedule, TrainingClock, as_schedule

# Default probability of acting on a given call: high early in training, lower later.
DEFAULT_BALANCER_PROB = Schedule((0.0, 0.5), (8000.0, 0.125), default=0.4)
# For a Gaussian, E|x| = sqrt(2/pi) * rms; limits on mean |x| become limits on rms.
_ABS_TO_RMS = math.sqrt(math.pi / 2)  # 1.25331413732


def _proportion_positive_to_mean(p: float) -> float:
    """The mean/stddev ratio of a Gaussian with a fraction ``p`` of positive values (approx.)."""
    x = 2 * p - 1
    atanh = 0.5 * (math.log(1 + x + 1e-10) - math.log(1 - x + 1e-10))
    return atanh * 0.8139535143  # fitted so that the approximation holds near 0.5


class _BalancerFunction(torch.autograd.Function):
    """Identity; its backward adds to the gradient ``|grad| * penalty``, where ``penalty`` is
    the gradient with respect to x of the per-channel loss on the statistics, scaled to rms
    ``grad_scale`` per channel.

    That loss depends on x only through two per-channel statistics, the mean of x^2 and the
    mean of x, so its gradient is, per channel, ``(2 x dL/dsq + dL/dmean) / N`` (N elements per
    channel; the rms scaling that follows cancels any positive factor, N included, so it is
    written for the formula's sake): autograd runs on the (C,)-sized statistics only, and the
    full-sized tensors take a few passes instead of a backward through ``(x * x).mean()``.
    The result agrees with that backward's to float32 rounding (about 1e-7; the sums run in
    another order) and is checked against the reference's in ``tests/nn/test_regularizers.py``.
    Forward and backward, 2 threads, alternating in one process: at the start of training,
    where each call acts with probability 0.5, Zipformer-M 1 x 30 s 2.27 -> 2.12 s and
    Zipformer-S 8 x 10 s 4.14 -> 3.51 s (Intel Xeon, 2026-12-07); after 8000 batches, where
    the probability is 0.125, within noise (M 1.00x, S 1.04x at batch 20,000).
    """

    @staticmethod
    def forward(
        ctx, x: Tensor, limits: tuple[float, float, float, float, float], dim: int
    ) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.limits, ctx.dim = limits, dim
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        min_mean, max_mean, min_rms, max_rms, grad_scale = ctx.limits
        dims = [d for d in range(x.ndim) if d != ctx.dim]
        x = x.detach().float()
        n = x.numel() // x.shape[ctx.dim]
        # The two full-size reductions; autograd sees only their (C,)-sized results.
        sq = (x * x).mean(dim=dims, keepdim=True).requires_grad_(True)
        mean = x.mean(dim=dims, keepdim=True).requires_grad_(True)
        with torch.enable_grad(), torch.autocast(x.device.type, enabled=False):
            std = (sq - mean * mean).clamp(min=1e-20).sqrt()
            rms = sq.clamp(min=1e-20).sqrt()
            m = mean / std
            loss = (m - m.clamp(min=min_mean, max=max_mean)).abs()
            loss = loss + (rms.clamp(min=min_rms, max=max_rms) / rms).log().abs()
            grad_sq, grad_mean = torch.autograd.grad(loss.sum(), (sq, mean))
        penalty = torch.addcmul(grad_mean / n, grad_sq * 2 / n, x)
        penalty_rms = (penalty * penalty).mean(dim=dims, keepdim=True).sqrt().clamp(min=1e-20)
        penalty.mul_(grad_scale / penalty_rms)
        g = grad.float()
        # The correction is proportional to |grad|, so it only reshapes what is already flowing.
        return torch.addcmul(g, g.abs(), penalty).to(grad.dtype), None, None


class Balancer(TrainingOnly):
    """Identity in forward; in backward (sometimes) nudges each channel's statistics into range.

    Per channel, the ratio mean/stddev is kept in the range implied by a fraction of positive
    values in [min_positive, max_positive], and the rms in the range implied by a mean absolute
    value in [min_abs, max_abs]. Any of these may be a :class:`Schedule`.

    Args:
        num_channels: size of the channel axis.
        channel_dim: which axis holds the channels (negative counts from the end).
        prob: probability of acting on a call (training only).
        grad_scale: rms of the added gradient relative to |grad|.
    """

    def __init__(
        self,
        num_channels: int,
        channel_dim: int,
        *,
        min_positive: float | Schedule = 0.05,
        max_positive: float | Schedule = 0.95,
        min_abs: float | Schedule = 0.2,
        max_abs: float | Schedule = 100.0,
        prob: float | Schedule | None = None,
        grad_scale: float = 0.04,
        clock: TrainingClock | None = None,
    ) -> None:
        super().__init__(clock)
        self.num_channels, self.channel_dim = num_channels, channel_dim
        self.min_positive, self.max_positive = as_schedule(min_positive), as_schedule(max_positive)
        self.min_abs, self.max_abs = as_schedule(min_abs), as_schedule(max_abs)
        self.prob = DEFAULT_BALANCER_PROB if prob is None else as_schedule(prob)
        self.grad_scale = grad_scale

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and x.requires_grad) or not coin_flip(self.scheduled(self.prob)):
            return x
        if x.shape[self.channel_dim] != self.num_channels:
            raise ValueError(
                f"Balancer expects {self.num_channels} channels on axis {self.channel_dim}, "
                f"got shape {tuple(x.shape)}"
            )
        limits = (
            _proportion_positive_to_mean(self.scheduled(self.min_positive)),
            _proportion_positive_to_mean(self.scheduled(self.max_positive)),
            _ABS_TO_RMS * self.scheduled(self.min_abs),
            _ABS_TO_RMS * self.scheduled(self.max_abs),
            self.grad_scale,
        )
        return _BalancerFunction.apply(x, limits, self.channel_dim % x.ndim)  # type: ignore[no-any-return]
