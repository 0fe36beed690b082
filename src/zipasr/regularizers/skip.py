"""Structured dropout: masks shared over time, whole-utterance skips, and whole-tensor drops.

All of them draw from torch's generator and are the identity in eval. Where several places of a
layer must share one random mask, the layer calls :meth:`sample` once (only in training) and
passes the mask to each call.
"""

from __future__ import annotations

import torch
from torch import Tensor

from zipasr.regularizers.base import TrainingOnly, coin_flip
from zipasr.schedule import Schedule, TrainingClock, as_schedule


class SharedDropout(TrainingOnly):
    """Dropout whose mask is shared along ``shared_dim`` (the time axis), rescaled by 1/(1-p)."""

    def __init__(
        self, p: float | Schedule, shared_dim: int, clock: TrainingClock | None = None
    ) -> None:
        super().__init__(clock)
        self.p, self.shared_dim = as_schedule(p), shared_dim

    def forward(self, x: Tensor) -> Tensor:
        p = self.scheduled(self.p)
        if not self.training or p == 0.0:
            return x
        if p >= 1.0:
            return torch.zeros_like(x)
        shape = list(x.shape)
        shape[self.shared_dim] = 1
        keep = (torch.rand(shape, device=x.device) > p).to(x.dtype)
        return x * keep * (1.0 / (1.0 - p))


class SequenceDropout(TrainingOnly):
    """Zeroes a module's whole output for a random subset of utterances (no rescaling).

    x: (T, B, C) time-major, or any shape whose batch axis is ``batch_dim``.
    """

    def __init__(
        self, rate: float | Schedule, batch_dim: int = 1, clock: TrainingClock | None = None
    ) -> None:
        super().__init__(clock)
        self.rate, self.batch_dim = as_schedule(rate), batch_dim

    def sample(self, x: Tensor) -> Tensor | None:
        """A keep-mask broadcastable to ``x`` (1 = keep), or None when nothing is dropped."""
        rate = self.scheduled(self.rate)
        if not self.training or rate == 0.0:
            return None
        shape = [1] * x.ndim
        shape[self.batch_dim] = x.shape[self.batch_dim]
        return (torch.rand(shape, device=x.device) > rate).to(x.dtype)

    def forward(self, x: Tensor, keep: Tensor | None = None) -> Tensor:
        if not self.training:
            return x
        if keep is None:
            keep = self.sample(x)
        return x if keep is None else x * keep


class LayerSkip(TrainingOnly):
    """Per-utterance layer skipping through a bypass scale: skipped utterances get scale 0,
    i.e. the layer's output equals its input. Maps a (C,) scale to (B, C) in training."""

    def __init__(self, rate: float | Schedule, clock: TrainingClock | None = None) -> None:
        super().__init__(clock)
        self.rate = as_schedule(rate)

    def forward(self, scale: Tensor, batch_size: int) -> Tensor:
        rate = self.scheduled(self.rate)
        if not self.training or rate == 0.0:
            return scale
        keep = torch.rand(batch_size, 1, device=scale.device) > rate
        return scale * keep


class FeatureMask(TrainingOnly):
    """The encoder's per-utterance channel masking (training only).

    For a random 12.5% of utterances the channels of each stack above its ``unmasked_dims``
    entry are zeroed, and for about twice as many the upper half of those. One draw per forward
    serves all stacks, so that the masks agree up the U-Net.
    """

    DROP_PROB = 0.125

    def __init__(self, unmasked_dims: tuple[int, ...], dims: tuple[int, ...]) -> None:
        super().__init__()
        if len(unmasked_dims) != len(dims) or any(
            not 0 < u <= d for u, d in zip(unmasked_dims, dims)
        ):
            raise ValueError(
                f"unmasked_dims={unmasked_dims} needs one entry per stack, each in (0, dim] "
                f"for dims={dims}"
            )
        self.unmasked_dims, self.dims = unmasked_dims, dims

    def sample(self, x: Tensor) -> list[Tensor] | None:
        """One (1, B, C_i) mask per stack for a time-major batch x: (T, B, C), or None in eval."""
        if not self.training:
            return None
        batch = x.shape[1]
        keep1 = torch.rand(1, batch, 1, device=x.device) > self.DROP_PROB
        keep2 = keep1 & (torch.rand(1, batch, 1, device=x.device) > self.DROP_PROB)
        masks = []
        for unmasked, dim in zip(self.unmasked_dims, self.dims):
            mid = unmasked + (dim - unmasked) // 2
            mask = torch.ones(1, batch, dim, device=x.device, dtype=x.dtype)
            mask[:, :, unmasked:mid] = keep1.to(x.dtype)
            mask[:, :, mid:] = keep2.to(x.dtype)
            masks.append(mask)
        return masks

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return x if mask is None or not self.training else x * mask


class RandomDrop(TrainingOnly):
    """With probability ``rate`` (per call, training only) returns zeros instead of ``x``."""

    def __init__(self, rate: float | Schedule, clock: TrainingClock | None = None) -> None:
        super().__init__(clock)
        self.rate = as_schedule(rate)

    def forward(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x) if self.draw() else x

    def draw(self) -> bool:
        """Draws whether this call drops (what :meth:`forward` draws), for callers that apply
        the drop themselves (called directly, it runs no forward hooks)."""
        return self.training and coin_flip(self.scheduled(self.rate))


class ConstantAttention(TrainingOnly):
    """With probability ``rate`` (per call, training only) replaces attention weights by a
    uniform distribution over the positions they can see (weights > 0). w: (..., T_key)."""

    def __init__(self, rate: float | Schedule, clock: TrainingClock | None = None) -> None:
        super().__init__(clock)
        self.rate = as_schedule(rate)

    def forward(self, w: Tensor) -> Tensor:
        if not (self.training and coin_flip(self.scheduled(self.rate))):
            return w
        visible = (w > 0.0).to(w.dtype)
        return visible / visible.sum(dim=-1, keepdim=True)
