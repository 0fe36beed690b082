"""The contract of every training-only regulariser: exactly the identity in eval.

The reference recipe owes much of its stability to tricks that act only while training
(gradient constraints, structured dropout, layer skipping). Each of them is a module that
subclasses :class:`TrainingOnly`; in eval mode its forward returns its first input unchanged.
:func:`strip_training_modules` replaces them all by :class:`Identity`, which is what an
exported or inference-only model contains; a test checks that stripping changes no output.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from zipasr.nn.schedule import Schedule, TrainingClock, as_schedule


class TrainingOnly(nn.Module):
    """Base class of modules whose forward is the identity on their first input in eval.

    In eval, calling the module returns its first input without running ``forward`` or
    nn.Module's call machinery (inference makes hundreds of these calls per streaming chunk),
    so hooks registered on it fire in training only.

    Subclasses read their schedules through :meth:`scheduled`, which returns the schedule's
    eval default when the module is not training.
    """

    def __init__(self, clock: TrainingClock | None = None) -> None:
        super().__init__()
        self.clock = clock if clock is not None else TrainingClock()

    def __call__(self, x: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.training:  # the identity: see the class docstring
            return x
        return super().__call__(x, *args, **kwargs)

    def scheduled(self, schedule: Schedule) -> float:
        return schedule(self.clock) if self.training else schedule.default


class Identity(nn.Module):
    """Returns its first argument; accepts (and ignores) any others."""

    def forward(self, x: Tensor, *args: object, **kwargs: object) -> Tensor:
        return x


def strip_training_modules(model: nn.Module) -> nn.Module:
    """Replaces every :class:`TrainingOnly` submodule of ``model`` by :class:`Identity`, in place.

    Returns the same model, for chaining. Parameters are untouched (training-only modules have
    none), so a stripped model loads and saves the same state_dict.
    """
    for name, child in list(model.named_children()):
        if isinstance(child, TrainingOnly):
            setattr(model, name, Identity())
        else:
            strip_training_modules(child)
    return model


def coin_flip(probability: float) -> bool:
    """True with the given probability, drawn from torch's CPU generator (no device sync)."""
    return probability > 0.0 and bool(torch.rand(()) < probability)


__all__ = ["Identity", "TrainingOnly", "as_schedule", "coin_flip", "strip_training_modules"]
