"""One optimizer step and one validation pass: the arithmetic of training, without the loop.

Losses are sums over utterances (the recipe's reduction, spec 6.7), weighted by the
:class:`~zipasr.losses.LossWeights` (the ``loss`` config) at the current step. Under DDP every
process back-propagates its own batch and DDP averages the gradients; the loss is multiplied by
the world size first, so the update equals that of one process summing the whole global batch.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from zipasr.data import Batch
from zipasr.losses import LossScales
from zipasr.models import AsrLosses, AsrModel
from zipasr.optim import Eden, ScaledAdam
from zipasr.schedule import REF_DURATION_S
from zipasr.train.config import LossConfig
from zipasr.train.precision import Precision, autocast


@dataclass
class StepStats:
    """Sums over the step's batches (this process): weighted loss, each loss, encoder frames,
    audio seconds and utterances."""

    loss: float = 0.0
    simple: float = 0.0
    pruned: float = 0.0
    ctc: float = 0.0
    cr_ctc: float = 0.0
    attention: float = 0.0
    frames: int = 0
    audio_s: float = 0.0
    utterances: int = 0

    def add(self, weighted: Tensor, losses: AsrLosses, batch: Batch) -> None:
        self.loss += float(weighted.detach())
        for name in ("simple", "pruned", "ctc", "cr_ctc", "attention"):
            value = getattr(losses, name)
            if value is not None:
                setattr(self, name, getattr(self, name) + float(value.detach()))
        self.frames += losses.num_frames
        self.audio_s += batch.duration_s
        self.utterances += len(batch)


@dataclass(kw_only=True)
class Learner:
    """What an optimizer step needs: the model (DDP-wrapped or not), optimizer, schedule,
    precision and the loss settings. ``max_duration_s`` (per process and batch), the number of
    accumulated batches, ``world_size`` and ``ref_duration_s`` drive the training clock
    (spec 3.10, :meth:`~zipasr.schedule.TrainingClock.set_step`)."""

    model: nn.Module
    optimizer: ScaledAdam
    scheduler: Eden
    precision: Precision
    device: torch.device
    loss: LossConfig
    max_duration_s: float
    world_size: int = 1
    #: Seconds of audio per reference batch of the schedules (the recipe's ``--ref-duration``).
    ref_duration_s: float = REF_DURATION_S
    #: False runs the training forward in eval mode (no dropout, layer skips or feature masks),
    #: for exact comparisons between runs that split batches differently.
    regularize: bool = True
    #: With ``loss.cr_ctc``: give the two views the recipe's CR-CTC SpecAugment (the loader
    #: then applies none; ``data.spec_augment``).
    spec_augment: bool = True

    @property
    def asr(self) -> AsrModel:
        """The underlying model (unwrapped from DDP)."""
        inner = getattr(self.model, "module", self.model)
        assert isinstance(inner, AsrModel), type(inner)
        return inner

    def forward(
        self, batch: Batch, scales: LossScales, chunk: tuple[int | None, int | None]
    ) -> tuple[Tensor, AsrLosses]:
        batch = batch.to(self.device)
        features, lengths = batch.features, batch.feature_lengths
        cr_ctc = self.loss.cr_ctc
        if cr_ctc:
            features, lengths = cr_ctc_views(
                features,
                lengths,
                augment=self.spec_augment and self.regularize,
                time_mask_ratio=self.loss.time_mask_ratio,
                time_warp_factor=self.loss.time_warp_factor,
            )
        with autocast(self.precision, self.device):
            losses = self.model(
                features,
                lengths,
                batch.token_ids,
                prune_range=self.loss.prune_range,
                lm_only_scale=self.loss.lm_scale,
                am_only_scale=self.loss.am_scale,
                chunk_frames=chunk[0],
                left_context_frames=chunk[1],
                cr_ctc=cr_ctc,
                label_smoothing=self.loss.label_smoothing,
            )
        return _total(losses, scales), losses

    def step(
        self, batches: list[Batch], step: int, chunk: tuple[int | None, int | None]
    ) -> StepStats:
        """Optimizer step number ``step`` (1-based) on ``batches`` (accumulated), with the
        simulated-streaming ``chunk`` = (chunk_frames, left_context_frames)."""
        model, stats = self.model, StepStats()
        # The recipe sets the clock from the count before this batch, the loss scales and the
        # learning rate from the count after it (spec 3.10, 5.5).
        self.asr.clock.set_step(
            step - 1,
            max_duration_s=self.max_duration_s,
            accum_grad=len(batches),
            world_size=self.world_size,
            ref_duration_s=self.ref_duration_s,
        )
        scales = self.loss.at(step)
        model.train(self.regularize)
        for i, batch in enumerate(batches):
            last = i == len(batches) - 1
            no_sync = getattr(model, "no_sync", None)
            sync = contextlib.nullcontext() if last or no_sync is None else no_sync()
            with sync:
                loss, losses = self.forward(batch, scales, chunk)
                scaled = loss * self.world_size
                if self.precision.scaler is not None:
                    self.precision.scaler.scale(scaled).backward()
                else:
                    scaled.backward()
            stats.add(loss, losses, batch)
        self.scheduler.step_batch(step)
        if self.precision.scaler is not None:
            self.precision.scaler.step(self.optimizer)
            self.precision.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return stats

    @torch.no_grad()
    def validate(self, loader: torch.utils.data.DataLoader, step: int) -> StepStats:
        """Losses on ``loader`` in eval mode with full context (this process's model only)."""
        model, stats = self.asr, StepStats()
        scales = self.loss.at(step)
        model.eval()
        for batch in loader:
            if len(batch):
                batch = batch.to(self.device)
                with autocast(self.precision, self.device):
                    losses = model(
                        batch.features,
                        batch.feature_lengths,
                        batch.token_ids,
                        label_smoothing=self.loss.label_smoothing,
                    )
                stats.add(_total(losses, scales), losses, batch)
        model.train()
        return stats


def _total(losses: AsrLosses, scales: LossScales) -> Tensor:
    return scales.total(
        losses.simple, losses.pruned, losses.ctc, cr_ctc=losses.cr_ctc, attention=losses.attention
    )


def cr_ctc_views(
    features: Tensor,
    lengths: Tensor,
    *,
    augment: bool = True,
    time_mask_ratio: float = 2.5,
    time_warp_factor: int = 80,
    p: float = 0.9,
) -> tuple[Tensor, Tensor]:
    """The two views of a batch that CR-CTC trains on, as icefall's recipe makes them.

    With ``augment``: each utterance is time-warped once (probability ``p``, within its valid
    frames), the batch is duplicated, and every row then gets its own SpecAugment frequency
    and time masks (probability ``p``; two masks of up to 27 bins; ``int(10 * ratio)`` time masks
    of up to 100 frames covering at most ``0.15 * ratio`` of the row). Without it the views
    are two copies.

    Shapes:
        features (B, T, F), lengths (B,)  ->  (2B, T, F), (2B,): view 1 rows, then view 2.
    """
    if augment and int(10 * time_mask_ratio) < 1:
        raise ValueError(f"time_mask_ratio={time_mask_ratio} must be >= 0.1")
    if augment and time_warp_factor >= 1:
        features = _time_warp(features, lengths, time_warp_factor, p)
    features, lengths = features.repeat(2, 1, 1), lengths.repeat(2)
    if augment:
        from zipasr.data import spec_augment

        masks = spec_augment(
            time_warp_factor=0,  # already warped, identically for both views
            num_frame_masks=int(10 * time_mask_ratio),
            max_frames_mask_fraction=0.15 * time_mask_ratio,
            p=p,
        )
        features = masks(features)
    return features, lengths


def _time_warp(features: Tensor, lengths: Tensor, factor: int, p: float) -> Tensor:
    """lhotse's SpecAugment time warp on each utterance's valid frames, with probability p."""
    from lhotse.dataset.signal_transforms import time_warp

    features = features.clone()
    for b, n in enumerate(lengths.tolist()):
        if random.random() <= p:
            features[b, :n] = time_warp(features[b, :n], factor=factor)
    return features
