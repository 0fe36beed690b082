"""Eden: the learning-rate schedule of the Zipformer recipes, aware of batches and epochs.

    lr = base_lr * ((batch**2 + lr_batches**2) / lr_batches**2) ** -0.25
                 * ((epoch**2 + lr_epochs**2) / lr_epochs**2) ** -0.25
                 * warmup(batch)
    warmup(batch) = warmup_start + (1 - warmup_start) * batch / warmup_batches  until
                    batch >= warmup_batches, then 1.

It has icefall's interface (``step_batch``, ``step_epoch``, ``get_last_lr``) and state layout
(``{"epoch": e, "batch": b}``), so icefall training loops and checkpoints work unchanged. It is
not a ``torch.optim.lr_scheduler.LRScheduler``: that base class sets the learning rate when it
is built and has a single ``step()``, which would change the recipe's numbers.
"""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer


class Eden:
    """Batch- and epoch-aware learning-rate schedule (see the module docstring).

    Recipe use: at the start of epoch ``e`` (1-based) call ``step_epoch(e - 1)``; in each batch
    increment the global batch counter, then call ``step_batch(counter)`` before
    ``optimizer.step()``. So the first update uses batch 1, epoch 0.

    Args:
        optimizer: its groups' ``lr`` become ``base_lr`` (kept in the group, so it is saved in
            the optimizer's state_dict) and are overwritten on every step of this schedule.
        lr_batches: batches after which the rate decays noticeably (recipe: 7500).
        lr_epochs: epochs after which the rate decays noticeably (recipe: 3.5); any measure of
            data seen (e.g. hours) works if you pass that to ``step_epoch``.
        warmup_batches: length of the linear warm-up, in batches.
        warmup_start: warm-up factor at batch 0, in [0, 1] (recipe: 0.1).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_batches: float,
        lr_epochs: float,
        warmup_batches: float = 500.0,
        warmup_start: float = 0.5,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"Eden needs a torch.optim.Optimizer, got {type(optimizer).__name__}")
        for name, value in (("lr_batches", lr_batches), ("lr_epochs", lr_epochs)):
            if not value > 0:
                raise ValueError(f"Eden: {name}={value!r} is invalid; it must be > 0")
        if not warmup_batches >= 0:
            raise ValueError(
                f"Eden: warmup_batches={warmup_batches!r} is invalid; it must be >= 0 (0: none)"
            )
        if not 0.0 <= warmup_start <= 1.0:
            raise ValueError(
                f"Eden: warmup_start={warmup_start!r} is invalid; it must be in [0, 1]"
            )
        self.optimizer = optimizer
        self.lr_batches = lr_batches
        self.lr_epochs = lr_epochs
        self.warmup_batches = warmup_batches
        self.warmup_start = warmup_start
        for group in optimizer.param_groups:
            group.setdefault("base_lr", group["lr"])
        self.base_lrs: list[float] = [group["base_lr"] for group in optimizer.param_groups]
        self.epoch: float = 0
        self.batch: float = 0
        self._last_lr: list[float] | None = None

    def get_lr(self) -> list[float]:
        """Learning rates for the current (batch, epoch), one per parameter group."""
        batch_factor = ((self.batch**2 + self.lr_batches**2) / self.lr_batches**2) ** -0.25
        epoch_factor = ((self.epoch**2 + self.lr_epochs**2) / self.lr_epochs**2) ** -0.25
        factor = batch_factor * epoch_factor
        if self.batch >= self.warmup_batches:
            warmup = 1.0
        else:
            warmup = self.warmup_start + (1.0 - self.warmup_start) * (
                self.batch / self.warmup_batches
            )
        return [base_lr * factor * warmup for base_lr in self.base_lrs]

    def step_batch(self, batch: int | None = None) -> None:
        """Sets the global batch index (counted over all epochs), or adds one if None."""
        self.batch = self.batch + 1 if batch is None else batch
        self._apply()

    def step_epoch(self, epoch: float | None = None) -> None:
        """Sets the epoch (call at the start of an epoch), or adds one if None (at its end)."""
        self.epoch = self.epoch + 1 if epoch is None else epoch
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rates last set, one per group (the groups' rates before any step)."""
        if self._last_lr is None:
            return [group["lr"] for group in self.optimizer.param_groups]
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """``{"epoch", "batch"}``; base learning rates are not included (icefall's layout)."""
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores epoch and batch. The rates change at the next step_batch / step_epoch."""
        missing = {"epoch", "batch"} - set(state_dict)
        if missing:
            raise ValueError(
                f"Eden.load_state_dict: missing keys {sorted(missing)}; expected the dict "
                "returned by Eden.state_dict() (keys 'epoch' and 'batch')"
            )
        # Old icefall checkpoints also carry "base_lrs"; the optimizer's groups are the truth.
        self.epoch = state_dict["epoch"]
        self.batch = state_dict["batch"]

    def _apply(self) -> None:
        lrs = self.get_lr()
        if len(lrs) != len(self.optimizer.param_groups):
            raise RuntimeError(
                f"Eden was built for {len(lrs)} parameter groups but the optimizer now has "
                f"{len(self.optimizer.param_groups)}; build the scheduler after adding groups"
            )
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = lrs
