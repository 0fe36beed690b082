"""The trainer's data: tokenizer, screened utterances, and the resumable loaders.

The loaders come from the public :func:`zipasr.data.make_loader`, as in a loop of your own; this
module only maps the ``data`` section of the config and the process's rank onto
:class:`~zipasr.data.LoaderConfig`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet

from zipasr.data import (
    AsrDataset,
    LoaderConfig,
    ResumableBucketingSampler,
    SkipReport,
    Tokenizer,
    load_cuts,
    make_loader,
    precompute_features,
    screen_cuts,
    spec_augment,
    speed_perturbation,
    train_tokenizer,
)
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


def _texts(cuts: CutSet) -> list[str]:
    return [" ".join(s.text or "" for s in c.supervisions) for c in cuts]


def prepare_tokenizer(config: DataConfig, exp_dir: Path, cuts: CutSet, info: DistInfo) -> Tokenizer:
    """``config.tokenizer`` if given; else the one trained earlier in ``exp_dir/tokenizer``, or
    a new one trained there (by rank 0) on the training transcripts."""
    if config.tokenizer is not None:
        recorded = read_metadata(Path(config.tokenizer).parent)
        if recorded:
            return Tokenizer(config.tokenizer)
        return Tokenizer(config.tokenizer, normalizer=config.normalizer)
    path = exp_dir / "tokenizer" / "bpe.model"
    if info.is_main and not path.exists():
        tokenizer = train_tokenizer(
            _texts(cuts),
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


def _with_features(cuts: CutSet, name: str, exp_dir: Path, info: DistInfo) -> CutSet:
    """Cuts with fbank precomputed once into ``exp_dir/features/<name>`` (reused on resume)."""
    manifest = exp_dir / "features" / f"{name}_cuts.jsonl.gz"
    if info.is_main and not manifest.exists():
        done = precompute_features(cuts, exp_dir / "features" / name)
        done.to_file(manifest)
    distributed.barrier()
    return CutSet.from_file(manifest).to_eager()


def loader_config(config: DataConfig, seed: int, info: DistInfo, *, shuffle: bool) -> LoaderConfig:
    """The loader settings of ``config`` for process ``info``."""
    return LoaderConfig(
        max_duration_s=config.max_duration_s,
        num_buckets=config.num_buckets,
        shuffle=shuffle,
        seed=seed,
        num_workers=config.num_workers,
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
    """Reads the manifests, trains or loads the tokenizer, screens out untrainable utterances
    and builds the training loader (augmented, shuffled, sharded over processes; resumed at
    ``sampler_state`` if given) and the validation loader (plain, unsharded)."""
    if not config.train_manifest:
        raise ValueError("data.train_manifest is empty; pass --data.train_manifest PATH")
    skips = SkipReport()
    train_cuts = load_cuts(config.train_manifest, skips)
    tokenizer = prepare_tokenizer(config, exp_dir, train_cuts, info)
    train_cuts = screen_cuts(train_cuts, tokenizer, skips)
    if len(train_cuts) == 0:
        raise ValueError(f"no usable utterance in {config.train_manifest}: {skips.summary()}")
    if config.precompute_features:
        train_cuts = _with_features(train_cuts, "train", exp_dir, info)
    cut_transforms = [speed_perturbation(seed=seed)] if config.speed_perturb else []
    feature_transforms = [spec_augment()] if config.spec_augment else []
    train_set = AsrDataset(tokenizer, cut_transforms, feature_transforms)
    train_loader, sampler = make_loader(
        train_cuts,
        train_set,
        loader_config(config, seed, info, shuffle=config.shuffle),
        sampler_state=sampler_state,
    )
    valid_loader = None
    if config.valid_manifest:
        valid_cuts = screen_cuts(load_cuts(config.valid_manifest, skips), tokenizer, skips)
        if config.precompute_features:
            valid_cuts = _with_features(valid_cuts, "valid", exp_dir, info)
        single = DistInfo(0, 1, info.local_rank, info.device)  # validation runs on rank 0
        valid_loader, _ = make_loader(
            valid_cuts, AsrDataset(tokenizer), loader_config(config, seed, single, shuffle=False)
        )
    if skips.total and info.is_main:
        log.info(skips.summary())
    return TrainData(tokenizer, train_loader, sampler, valid_loader, skips)
