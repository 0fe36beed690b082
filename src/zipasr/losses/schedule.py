"""Loss weights of the icefall Zipformer recipe, warmed up over the first batches.

During warm-up the simple (cheap, smooth) transducer loss dominates and the pruned loss, whose
bands come from the simple loss's still-poor alignments, is faded in. :class:`LossWeights` is the
one description of the weights (the trainer's ``loss`` config extends it with the pruned RNN-T
settings); :class:`LossScales` is its value at one step, and adds the losses up.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class LossScales:
    """The loss weights at one training step (see :meth:`LossWeights.at`)."""

    simple: float
    pruned: float
    ctc: float
    cr_ctc: float = 0.0
    attention: float = 0.0

    def total(
        self,
        simple: Tensor | None,
        pruned: Tensor | None,
        ctc: Tensor | None,
        cr_ctc: Tensor | None = None,
        attention: Tensor | None = None,
    ) -> Tensor:
        """The weighted sum of the losses a model has (None: no such head or term, left out).

        Example:
            >>> import torch
            >>> LossScales(0.5, 1.0, 0.2).total(torch.tensor(2.0), None, torch.tensor(5.0))
            tensor(2.)
        """
        total: Tensor | None = None
        terms = (
            (simple, self.simple),
            (pruned, self.pruned),
            (ctc, self.ctc),
            (cr_ctc, self.cr_ctc),
            (attention, self.attention),
        )
        for value, scale in terms:
            if value is not None:
                total = value * scale if total is None else total + value * scale
        if total is None:
            raise ValueError("every loss is None; a model has at least one head")
        return total


@dataclass(frozen=True)
class LossWeights:
    """The recipe's loss weights (train.py defaults) and their warm-up.

    ``warm_step`` counts raw training batches (icefall's ``batch_idx_train``, not adjusted for
    duration or world size). Recipe-level rules stay with the caller: a CTC-only model uses
    ``ctc_loss_scale=1.0``.

    Attributes:
        simple_loss_scale: weight of the simple transducer loss after warm-up (1.0 at the start).
        ctc_loss_scale: weight of the CTC loss (constant).
        warm_step: batches over which the simple and pruned weights move to their final values.
        cr_loss_scale: weight of CR-CTC's consistency term (used when CR-CTC is on; the
            recipe's 0.2 for CTC models, 0.02 next to a transducer).
        attention_decoder_loss_scale: weight of the attention-decoder loss (used when the
            model has that head; the recipe pairs 0.8 with ``ctc_loss_scale`` 0.2).
    """

    simple_loss_scale: float = 0.5
    ctc_loss_scale: float = 0.2
    warm_step: int = 2000
    cr_loss_scale: float = 0.2
    attention_decoder_loss_scale: float = 0.8

    def __post_init__(self) -> None:
        if self.warm_step < 1:
            raise ValueError(f"warm_step={self.warm_step} must be >= 1 (batches of warm-up)")
        for name in ("ctc_loss_scale", "cr_loss_scale", "attention_decoder_loss_scale"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0")

    def at(self, step: int) -> LossScales:
        """Scales for training batch number ``step``, counting this batch (1 for the first
        batch; the recipe counts a batch before computing its loss).

        simple: linear from 1.0 to simple_loss_scale over warm_step batches, then constant.
        pruned: linear from 0.1 to 1.0 over warm_step batches, then 1.0.
        """
        if step < 0:
            raise ValueError(f"step={step} must be >= 0")
        if step >= self.warm_step:  # exact values after warm-up, as the recipe has them
            simple, pruned = self.simple_loss_scale, 1.0
        else:
            progress = step / self.warm_step
            simple = 1.0 - progress * (1.0 - self.simple_loss_scale)
            pruned = 0.1 + 0.9 * progress
        return LossScales(
            simple=simple,
            pruned=pruned,
            ctc=self.ctc_loss_scale,
            cr_ctc=self.cr_loss_scale,
            attention=self.attention_decoder_loss_scale,
        )
