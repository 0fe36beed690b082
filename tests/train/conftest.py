from __future__ import annotations

from pathlib import Path

import pytest

from zipasr.data.synth import build_corpus
from zipasr.train.config import (
    ChunkingConfig,
    DataConfig,
    LossConfig,
    ModelSpec,
    OptimConfig,
    TrainConfig,
)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """A tiny synthetic corpus (~70 s of train audio), built once per session."""
    out = tmp_path_factory.mktemp("train_corpus")
    build_corpus(out, hours=0.02, seed=7)
    return out


def tiny_train_config(corpus: Path, exp_dir: Path, **overrides) -> TrainConfig:
    """A causal tiny transducer + CTC on the tiny corpus: about 8 batches per epoch."""
    config = TrainConfig(
        exp_dir=str(exp_dir),
        model=ModelSpec(preset="tiny", causal=True, decoder_dim=16, joiner_dim=16, ctc=True),
        data=DataConfig(
            train_manifest=str(corpus / "train.jsonl"),
            valid_manifest=str(corpus / "dev.jsonl"),
            vocab_size=60,
            max_duration_s=10.0,
            num_buckets=4,
            num_workers=0,
            spec_augment=False,
        ),
        optim=OptimConfig(lr_batches=100.0, warmup_batches=5.0),
        loss=LossConfig(warm_step=10),
        chunking=ChunkingConfig(chunk_frames=(16, 32, None), left_context_frames=(64, None)),
        num_epochs=100,
        max_steps=12,
        average_period=2,
        save_every_steps=3,
        keep_last=2,
        valid_every_steps=6,
        threads=1,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config
