"""From cuts to :class:`~zipasr.data.batch.Batch` objects: the dataset and the DataLoader.

The sampler (:class:`~zipasr.data.sampler.ResumableBucketingSampler`) lives in the training
process and hands each worker a CutSet; the worker applies the cut transforms, loads precomputed
features or computes fbank from audio, checks each utterance (guardrails), tokenises, pads and
applies the feature transforms. Skipped utterances travel inside the batch (``batch.skipped``),
so counts made in worker processes still reach the training loop's :class:`SkipReport`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from lhotse import CutSet

from zipasr.audio import AudioError, FbankOptions, fbank, frames_for_duration
from zipasr.data.augment import CutTransform, FeatureTransform
from zipasr.data.batch import Batch, collate
from zipasr.data.features import load_cut_audio
from zipasr.data.guardrails import Skip, SkipReason, SkipReport, check_utterance
from zipasr.data.sampler import ResumableBucketingSampler
from zipasr.data.sources import CutSource, ScreenedSource
from zipasr.data.tokenizer import Tokenizer
from zipasr.frontend import SAMPLE_RATE


class AsrDataset(torch.utils.data.Dataset):
    """Map-style dataset whose "index" is the CutSet of one batch, as lhotse's samplers yield."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        cut_transforms: Sequence[CutTransform] = (),
        feature_transforms: Sequence[FeatureTransform] = (),
        options: FbankOptions | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.cut_transforms = list(cut_transforms)
        self.feature_transforms = list(feature_transforms)
        self.options = options or FbankOptions()

    def __getitem__(self, cuts: CutSet) -> Batch:
        for transform in self.cut_transforms:
            cuts = transform(cuts)
        feats, token_ids, texts, ids, skipped = [], [], [], [], []
        for cut in cuts:
            text = self.tokenizer.normalize(
                " ".join(s.text or "" for s in cut.supervisions)
            ).strip()
            tokens = self.tokenizer.encode([text])[0] if text else []
            skip = check_utterance(cut.id, frames_for_duration(cut.duration), text, len(tokens))
            if skip is None:
                try:
                    f = self._features(cut)
                except AudioError as e:
                    skip = Skip(cut.id, SkipReason.UNREADABLE_AUDIO, str(e))
            if skip is not None:
                skipped.append(skip)
                continue
            feats.append(f)
            token_ids.append(tokens)
            texts.append(text)
            ids.append(cut.id)
        batch = collate(feats, token_ids, texts, ids, skipped)
        if len(batch) and self.feature_transforms:
            segments = torch.stack(
                [torch.arange(len(batch)), torch.zeros(len(batch)), batch.feature_lengths], dim=1
            ).to(torch.int32)
            for transform in self.feature_transforms:
                batch.features = transform(batch.features, segments)
        return batch

    def _features(self, cut) -> torch.Tensor:
        if cut.has_features:
            try:
                return torch.from_numpy(cut.load_features()).to(torch.float32)
            except Exception as e:  # a missing or truncated feature file
                raise AudioError(f"cannot load the features of cut {cut.id}: {e}") from e
        return fbank(load_cut_audio(cut), SAMPLE_RATE, self.options)


@dataclass(frozen=True)
class LoaderConfig:
    """How batches are drawn (no corpus names here). The trainer builds its loaders with this
    too, so a loop of your own gets the same batches.

    Attributes:
        max_duration_s: audio seconds per batch (sum over the batch), per process.
        num_buckets: duration buckets of the sampler.
        shuffle: shuffle within buckets, differently each epoch.
        seed: sampler seed (epoch e uses seed + e); it also seeds the DataLoader's own
            generator, so starting an epoch draws nothing from torch's global RNG (which a
            resumed run restores from its checkpoint).
        num_workers: DataLoader worker processes (0 loads in the training process).
        buffer_size: utterances held in the sampler's buckets.
        rank, world_size: this process's shard of the batches under data parallelism. Every
            rank draws the same sequence and takes its own; with ``world_size > 1`` an epoch's
            incomplete last round is dropped, so that every process takes the same number of
            steps (DDP would otherwise wait forever).
    """

    max_duration_s: float = 200.0
    num_buckets: int = 30
    shuffle: bool = True
    seed: int = 0
    num_workers: int = 2
    buffer_size: int = 20000
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size:
            raise ValueError(
                f"rank={self.rank} must be in [0, world_size={self.world_size}); give each "
                "process its own rank"
            )


def make_loader(
    cuts: CutSet | CutSource,
    dataset: AsrDataset,
    config: LoaderConfig | None = None,
    *,
    sampler_state: dict[str, Any] | None = None,
) -> tuple[torch.utils.data.DataLoader, ResumableBucketingSampler]:
    """A DataLoader of :class:`Batch` objects and its sampler.

    ``cuts`` may be a lazy source (:func:`zipasr.data.open_manifest`, :func:`zipasr.data.mix`,
    :func:`screened`): the sampler then reads it as it goes and never lists it.
    Call ``sampler.set_epoch(e)`` before each epoch. To resume mid-epoch, save
    ``sampler.state_dict(batches_consumed=n)`` (n: batches of this epoch the loop has taken;
    the loader may have prefetched more) and pass it back as ``sampler_state``.
    """
    config = config or LoaderConfig()
    sampler = ResumableBucketingSampler(
        cuts,
        max_duration=config.max_duration_s,
        num_buckets=config.num_buckets,
        shuffle=config.shuffle,
        seed=config.seed,
        buffer_size=config.buffer_size,
        world_size=config.world_size,
        rank=config.rank,
        drop_last=config.world_size > 1,
    )
    if sampler_state is not None:
        sampler.load_state_dict(sampler_state)
    loader = torch.utils.data.DataLoader(
        dataset,  # type: ignore[arg-type]  # indexed by CutSets, not ints
        sampler=sampler,
        batch_size=None,
        num_workers=config.num_workers,
        persistent_workers=config.num_workers > 0,
        generator=torch.Generator().manual_seed(config.seed),
    )
    return loader, sampler


def iterate_batches(loader: torch.utils.data.DataLoader, report: SkipReport) -> Iterator[Batch]:
    """Yields the loader's non-empty batches, merging each batch's skips into ``report``."""
    for batch in loader:
        report.extend(batch.skipped)
        if len(batch):
            yield batch


def _guardrail(tokenizer: Tokenizer):
    def check(cut) -> Skip | None:
        text = tokenizer.normalize(" ".join(s.text or "" for s in cut.supervisions)).strip()
        num_tokens = len(tokenizer.encode([text])[0]) if text else 0
        return check_utterance(cut.id, frames_for_duration(cut.duration), text, num_tokens)

    return check


def screen_cuts(cuts: CutSet, tokenizer: Tokenizer, report: SkipReport) -> CutSet:
    """Drops, before sampling, the utterances the guardrails reject from their manifest alone
    (empty text, too short, too many tokens), recording each in ``report``. An eager CutSet;
    :func:`screened` does the same lazily.

    Screening up front keeps the sampler's batch durations honest; the dataset repeats the checks
    after augmentation (speed perturbation shortens utterances) and catches unreadable audio.
    """
    check = _guardrail(tokenizer)
    kept = []
    for cut in cuts:
        skip = check(cut)
        if skip is None:
            kept.append(cut)
        else:
            report.add(skip)
    return CutSet.from_cuts(kept)


def screened(source: CutSource, tokenizer: Tokenizer, report: SkipReport) -> CutSource:
    """:func:`screen_cuts` as the sampler reads ``source``: nothing is listed, each rejected
    utterance is recorded in ``report`` once (however many epochs read it)."""
    return ScreenedSource(source, _guardrail(tokenizer), report)
