"""The contract of every training-only regulariser: exactly the identity in eval.

The reference recipe owes much of its stability to tricks that act only while training
(gradient constraints, structured dropout, layer skipping). Each of them is a module that
subclasses :class:`TrainingOnly`; in eval mode its forward returns its first input unchanged.
:func:`strip_training_modules` replaces them all by :class:`Identity`, which is what an
exported or inference-only model contains; a test checks that stripping changes no output.

A few of them adapt while training (``Whiten`` raises how often it acts while its limit is
violated). That state is not a parameter or buffer, so it is not in the model's state_dict;
:func:`training_state` and :func:`load_training_state` carry it through a checkpoint, so that a
resumed run continues exactly.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from zipasr.schedule import Schedule, TrainingClock, as_schedule


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

    def training_state(self) -> dict[str, float]:
        """What this module has adapted while training, outside its state_dict (none here;
        subclasses that adapt override this and :meth:`load_training_state`)."""
        return {}

    def load_training_state(self, state: dict[str, float]) -> None:
        """Inverse of :meth:`training_state`."""
        if state:
            raise ValueError(
                f"{type(self).__name__} keeps no training state, got {sorted(state)}; was the "
                "state saved from another model?"
            )


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


def training_state(model: nn.Module) -> dict[str, dict[str, float]]:
    """The training state of every :class:`TrainingOnly` submodule that keeps some, by module
    name: plain floats, for a checkpoint next to ``model.state_dict()``."""
    found = {}
    for name, module in model.named_modules():
        if isinstance(module, TrainingOnly) and (state := module.training_state()):
            found[name] = state
    return found


def load_training_state(model: nn.Module, state: dict[str, dict[str, float]]) -> None:
    """Inverse of :func:`training_state`: gives each named module its state back."""
    modules = dict(model.named_modules())
    for name, module_state in state.items():
        module = modules.get(name)
        if not isinstance(module, TrainingOnly):
            raise ValueError(
                f"training state for module {name!r}, but the model has no training-only module "
                "of that name; load the state into the architecture that saved it"
            )
        module.load_training_state(module_state)


def coin_flip(probability: float) -> bool:
    """True with the given probability, drawn from torch's CPU generator (no device sync)."""
    return probability > 0.0 and bool(torch.rand(()) < probability)


__all__ = [
    "Identity",
    "TrainingOnly",
    "as_schedule",
    "coin_flip",
    "load_training_state",
    "strip_training_modules",
    "training_state",
]
