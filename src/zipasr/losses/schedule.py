"""Loss weights of the icefall Zipformer recipe, warmed up over the first batches.

During warm-up the simple (cheap, smooth) transducer loss dominates and the pruned loss, whose
bands come from the simple loss's still-poor alignments, is faded in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LossScales:
    """Multipliers for one training step; unused losses are simply not added."""

    simple: float
    pruned: float
    ctc: float
    consistency: float
    attention_decoder: float


@dataclass(frozen=True)
class LossWeights:
    """The recipe's loss weights (train.py defaults) and warm-up length.

    ``warm_step`` counts raw training batches (icefall's ``batch_idx_train``, not adjusted for
    duration or world size). Recipe-level rules stay with the caller: a CTC-only model uses
    ``ctc=1.0``; a CTC + attention-decoder model without transducer uses weights summing to 1.
    """

    simple_loss_scale: float = 0.5
    ctc_loss_scale: float = 0.2
    cr_loss_scale: float = 0.2
    attention_decoder_loss_scale: float = 0.8
    warm_step: int = 2000

    def __post_init__(self) -> None:
        if self.warm_step < 1:
            raise ValueError(f"warm_step={self.warm_step} must be >= 1 (batches of warm-up)")

    def at(self, batch_idx: int) -> LossScales:
        """Scales at training batch ``batch_idx`` (0-based).

        simple: linear from 1.0 to simple_loss_scale over warm_step batches, then constant.
        pruned: linear from 0.1 to 1.0 over warm_step batches, then 1.0.
        consistency (CR-CTC): cr_loss_scale * min(batch_idx / warm_step, 1).
        """
        if batch_idx < 0:
            raise ValueError(f"batch_idx={batch_idx} must be >= 0")
        if batch_idx >= self.warm_step:  # exact values after warm-up, as the recipe has them
            simple, pruned, progress = self.simple_loss_scale, 1.0, 1.0
        else:
            progress = batch_idx / self.warm_step
            simple = 1.0 - progress * (1.0 - self.simple_loss_scale)
            pruned = 0.1 + 0.9 * progress
        return LossScales(
            simple=simple,
            pruned=pruned,
            ctc=self.ctc_loss_scale,
            consistency=self.cr_loss_scale * progress,
            attention_decoder=self.attention_decoder_loss_scale,
        )
