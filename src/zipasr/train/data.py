"""The trainer's data: tokenizer, screened utterances, and the resumable loaders.

The loaders come from the public :func:`zipasr.data.make_loader`, as in a loop of your own; this
module only maps the ``data`` section of the config and the process's rank onto
:class:`~zipasr.data.LoaderConfig`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet
from lhotse.cut import Cut

from zipasr.data import (
    AsrDataset,
    CutSource,
    JsonlSource,
    ListSource,
    LoaderConfig,
    MixedSource,
    ResumableBucketingSampler,
    SkipReport,
    Tokenizer,
    audio_cuts,
    load_cuts,
    make_loader,
    manifest_texts,
    noise_mixing,
    open_manifest,
    precompute_features,
    reverberation,
    screen_cuts,
    screened,
    spec_augment,
    speed_perturbation,
    train_tokenizer,
    volume_perturbation,
)
from zipasr.data.augment import CutTransform, FeatureTransform
from zipasr.data.tokenizer import read_metadata
from zipasr.train import distributed
from zipasr.train.config import DataConfig
from zipasr.train.distributed import DistInfo

log = logging.getLogger(__name__)


@dataclass
class TrainData:
    """Loaders and what they were built from. ``sampler`` holds the resume position."""

    tokenizer: Tokenizer
    train_loader: torch.utils.data.DataLoader
    sampler: ResumableBucketingSampler
    valid_loader: torch.utils.data.DataLoader | None
    skips: SkipReport


def _texts(sources: CutSet | list[CutSource]) -> Iterator[str]:
    """Every training transcript, streamed (a JSONL manifest's without opening any audio)."""
    if isinstance(sources, CutSet):
        sources = [ListSource(sources)]
    for source in sources:
        if isinstance(source, JsonlSource):
            yield from manifest_texts(source.path)
        else:
            yield from (" ".join(s.text or "" for s in c.supervisions) for c in source)


def prepare_tokenizer(
    config: DataConfig, exp_dir: Path, sources: CutSet | list[CutSource], info: DistInfo
) -> Tokenizer:
    """``config.tokenizer`` if given; else the one trained earlier in ``exp_dir/tokenizer``, or
    a new one trained there (by rank 0) on the transcripts of ``sources`` (opened manifests or
    cuts), streamed."""
    if config.tokenizer is not None:
        recorded = read_metadata(Path(config.tokenizer).parent)
        if recorded:
            return Tokenizer(config.tokenizer)
        return Tokenizer(config.tokenizer, normalizer=config.normalizer)
    path = exp_dir / "tokenizer" / "bpe.model"
    if info.is_main and not path.exists():
        tokenizer = train_tokenizer(
            _texts(sources),
            path.parent,
            vocab_size=config.vocab_size,
            model_type=config.tokenizer_type,
            normalizer=config.normalizer,
        )
        if tokenizer.vocab_size != config.vocab_size:
            log.warning(
                "data.vocab_size=%d, but the training transcripts yield only %d tokens: the "
                "model is built with %d (set data.vocab_size: %d to say so)",
                config.vocab_size,
                tokenizer.vocab_size,
                tokenizer.vocab_size,
                tokenizer.vocab_size,
            )
    distributed.barrier()
    # The kind and normaliser come from the config: a resumed run restores only bpe.model.
    return Tokenizer(path, kind=config.tokenizer_type, normalizer=config.normalizer)


def _with_features(cuts: Iterable[Cut], name: str, exp_dir: Path, info: DistInfo) -> CutSource:
    """Cuts with fbank precomputed once into ``exp_dir/features/<name>`` (reused on resume),
    read back lazily."""
    manifest = exp_dir / "features" / f"{name}_cuts.jsonl.gz"
    if info.is_main and not manifest.exists():
        done = precompute_features(cuts, exp_dir / "features" / name)
        done.to_file(manifest)
    distributed.barrier()
    return open_manifest(manifest)


def training_source(
    config: DataConfig,
    tokenizer: Tokenizer,
    skips: SkipReport,
    seed: int,
    features: Callable[[CutSource, str], CutSource] | None = None,
    opened: list[CutSource] | None = None,
) -> CutSource:
    """The training utterances as the sampler reads them: each manifest opened lazily (or the
    ``opened`` sources, one per manifest), screened by the guardrails (``features(source,
    name)`` then precomputes them, if given) and, for ``data.train_manifests``, mixed with their
    weights (drawn with ``seed + epoch``).
    """
    specs = config.manifests()
    if not specs:
        raise ValueError("data.train_manifest is empty; pass --data.train_manifest PATH")
    if opened is None:
        opened = [open_manifest(s.path, skips) for s in specs]
    sources = [screened(o, tokenizer, skips) for o in opened]
    if features is not None:
        names = ["train"] if len(sources) == 1 else [f"train{i}" for i in range(len(sources))]
        sources = [features(s, name) for s, name in zip(sources, names)]
    if len(sources) == 1:
        return sources[0]
    return MixedSource(sources, [s.weight for s in specs], [s.repeat for s in specs], seed)


def augmentations(
    config: DataConfig, seed: int
) -> tuple[list[CutTransform], list[FeatureTransform]]:
    """The cut and feature transforms the ``data`` section asks for, in the order applied:
    speed, volume, reverberation, noise (audio), then SpecAugment (features). Each is seeded
    from ``seed``, so a run's draws repeat; none is on unless asked for (SpecAugment by
    ``data.spec_augment``, on by default as in the recipe)."""
    cut_transforms: list[CutTransform] = []
    if config.speed_perturb:
        cut_transforms.append(
            speed_perturbation(config.speed_factors, p=config.speed_prob, seed=seed)
        )
    if config.volume_perturb:
        scale = (config.volume_scale[0], config.volume_scale[1])
        cut_transforms.append(volume_perturbation(scale, p=config.volume_prob, seed=seed + 1))
    if config.reverb:
        rirs = None
        if config.rir_manifest:
            rirs = [c.recording for c in audio_cuts(config.rir_manifest)]
        cut_transforms.append(reverberation(rirs, p=config.reverb_prob, seed=seed + 2))
    if config.noise_manifest:
        snr = (config.noise_snr_db[0], config.noise_snr_db[1])
        noise = audio_cuts(config.noise_manifest)
        cut_transforms.append(noise_mixing(noise, snr, p=config.noise_prob, seed=seed + 3))
    feature_transforms = [spec_augment()] if config.spec_augment else []
    return cut_transforms, feature_transforms


def loader_config(config: DataConfig, seed: int, info: DistInfo, *, shuffle: bool) -> LoaderConfig:
    """The loader settings of ``config`` for process ``info``."""
    return LoaderConfig(
        max_duration_s=config.max_duration_s,
        num_buckets=config.num_buckets,
        shuffle=shuffle,
        seed=seed,
        num_workers=config.num_workers,
        buffer_size=config.buffer_size,
        rank=info.rank,
        world_size=info.world_size,
    )


def prepare_data(
    config: DataConfig,
    exp_dir: Path,
    seed: int,
    info: DistInfo,
    sampler_state: dict[str, Any] | None = None,
) -> TrainData:
    """Opens the manifests (lazily), trains or loads the tokenizer, screens out untrainable
    utterances as they are read and builds the training loader (mixed, augmented, shuffled,
    sharded over processes; resumed at ``sampler_state`` if given) and the validation loader
    (plain, unsharded)."""
    skips = SkipReport()
    if not config.manifests():
        raise ValueError("data.train_manifest is empty; pass --data.train_manifest PATH")
    # Opening reads a JSONL manifest's first line only: a bad path or format fails here.
    opened = [open_manifest(s.path, skips) for s in config.manifests()]
    tokenizer = prepare_tokenizer(config, exp_dir, opened, info)
    features = None
    if config.precompute_features:
        features = lambda cuts, name: _with_features(cuts, name, exp_dir, info)  # noqa: E731
    source = training_source(config, tokenizer, skips, seed, features, opened)
    train_set = AsrDataset(tokenizer, *augmentations(config, seed))
    try:
        train_loader, sampler = make_loader(
            source,
            train_set,
            loader_config(config, seed, info, shuffle=config.shuffle),
            sampler_state=sampler_state,
        )
    except ValueError as e:
        if "nothing to sample" not in str(e):
            raise
        raise ValueError(f"no usable utterance in {source.name}: {skips.summary()}") from None
    valid_loader = None
    if config.valid_manifest:
        valid_cuts = screen_cuts(load_cuts(config.valid_manifest, skips), tokenizer, skips)
        valid: CutSet | CutSource = valid_cuts
        if config.precompute_features:
            valid = _with_features(valid_cuts, "valid", exp_dir, info)
        single = DistInfo(0, 1, info.local_rank, info.device)  # validation runs on rank 0
        valid_loader, _ = make_loader(
            valid, AsrDataset(tokenizer), loader_config(config, seed, single, shuffle=False)
        )
    if skips.total and info.is_main:
        log.info(skips.summary())
    return TrainData(tokenizer, train_loader, sampler, valid_loader, skips)
