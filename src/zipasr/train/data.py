"""The trainer's data: tokenizer, screened utterances, and the resumable loaders."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from lhotse import CutSet

from zipasr.data import (
    AsrDataset,
    ResumableBucketingSampler,
    SkipReport,
    Tokenizer,
    load_cuts,
    precompute_features,
    screen_cuts,
    spec_augment,
    speed_perturbation,
    train_tokenizer,
)
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
        return Tokenizer(config.tokenizer)
    path = exp_dir / "tokenizer" / "bpe.model"
    if info.is_main and not path.exists():
        train_tokenizer(_texts(cuts), path.parent, vocab_size=config.vocab_size)
    distributed.barrier()
    return Tokenizer(path)


def _with_features(cuts: CutSet, name: str, exp_dir: Path, info: DistInfo) -> CutSet:
    """Cuts with fbank precomputed once into ``exp_dir/features/<name>`` (reused on resume)."""
    manifest = exp_dir / "features" / f"{name}_cuts.jsonl.gz"
    if info.is_main and not manifest.exists():
        done = precompute_features(cuts, exp_dir / "features" / name)
        done.to_file(manifest)
    distributed.barrier()
    return CutSet.from_file(manifest).to_eager()


def _loader(
    cuts: CutSet, dataset: AsrDataset, config: DataConfig, seed: int, shuffle: bool, info: DistInfo
) -> tuple[torch.utils.data.DataLoader, ResumableBucketingSampler]:
    sampler = ResumableBucketingSampler(
        cuts,
        max_duration=config.max_duration_s,
        num_buckets=config.num_buckets,
        shuffle=shuffle,
        seed=seed,
        world_size=info.world_size,
        rank=info.rank,
        # Every process must take the same number of steps, or DDP waits forever.
        drop_last=info.enabled,
    )
    loader = torch.utils.data.DataLoader(
        dataset,  # type: ignore[arg-type]  # indexed by CutSets
        sampler=sampler,
        batch_size=None,
        num_workers=config.num_workers,
        persistent_workers=config.num_workers > 0,
        # Its own generator: creating an iterator must not draw from the global RNG, which a
        # resumed run restores from the checkpoint.
        generator=torch.Generator().manual_seed(seed),
    )
    return loader, sampler


def prepare_data(config: DataConfig, exp_dir: Path, seed: int, info: DistInfo) -> TrainData:
    """Reads the manifests, trains or loads the tokenizer, screens out untrainable utterances
    and builds the training loader (augmented, shuffled, sharded over processes) and the
    validation loader (plain, unsharded)."""
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
    train_loader, sampler = _loader(train_cuts, train_set, config, seed, config.shuffle, info)
    valid_loader = None
    if config.valid_manifest:
        valid_cuts = screen_cuts(load_cuts(config.valid_manifest, skips), tokenizer, skips)
        if config.precompute_features:
            valid_cuts = _with_features(valid_cuts, "valid", exp_dir, info)
        single = DistInfo(0, 1, info.local_rank, info.device)  # validation runs on rank 0
        valid_loader, _ = _loader(valid_cuts, AsrDataset(tokenizer), config, seed, False, single)
    if skips.total and info.is_main:
        log.info(skips.summary())
    return TrainData(tokenizer, train_loader, sampler, valid_loader, skips)


def tokenizer_blob(tokenizer: Tokenizer) -> dict[str, bytes | str]:
    """The tokenizer as bytes, for checkpoints (and its pieces as JSON, for reading)."""
    return {
        "bpe.model": tokenizer.model_path.read_bytes(),
        "pieces": json.dumps(tokenizer.pieces()),
    }
