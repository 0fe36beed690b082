"""Training configs a user gets wrong: refused before any work, or warned about, never silently
changed (part of the bad-input suite, see tests/test_bad_input.py)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.train.conftest import tiny_train_config
from zipasr.data import load_cuts
from zipasr.train import train
from zipasr.train.config import DataConfig, TrainConfig
from zipasr.train.data import prepare_tokenizer
from zipasr.train.distributed import DistInfo


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_steps", -5, "max_steps=-5 must be >= 1, or null for no limit"),
        ("max_steps", 0, "max_steps=0 must be >= 1"),
        ("num_epochs", 0, "num_epochs=0 must be >= 1"),
    ],
)
def test_nonsense_run_lengths_are_refused(field: str, value: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("vocab_size", 2, "data.vocab_size=2 must be at least 4"),
        ("max_duration_s", 0.0, "data.max_duration_s=0.0 must be positive"),
        ("num_buckets", 0, "data.num_buckets=0 must be >= 1"),
        ("num_workers", -1, "data.num_workers=-1 must be >= 0"),
    ],
)
def test_nonsense_data_settings_are_refused(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DataConfig(**{field: value})


def test_a_vocabulary_the_transcripts_cannot_fill_is_warned_about(
    corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cuts = load_cuts(corpus / "train.jsonl")
    config = DataConfig(train_manifest=str(corpus / "train.jsonl"), vocab_size=100_000)
    with caplog.at_level(logging.WARNING):
        tokenizer = prepare_tokenizer(
            config, tmp_path, cuts, DistInfo(0, 1, 0, torch.device("cpu"))
        )
    assert tokenizer.vocab_size < 100_000
    assert (
        f"data.vocab_size=100000, but the training transcripts yield only "
        f"{tokenizer.vocab_size} tokens" in caplog.text
    )


def test_a_resume_that_changes_the_vocabulary_is_refused(corpus: Path, tmp_path: Path) -> None:
    config = tiny_train_config(corpus, tmp_path, max_steps=3, valid_every_steps=100)
    config.data = replace(config.data, valid_manifest=None)
    train(config)
    config.resume = "auto"
    config.max_steps = 6
    config.data = replace(config.data, vocab_size=80)
    recorded = (tmp_path / "config.yaml").read_text()
    with pytest.raises(ValueError, match="data.vocab_size: 60 in the checkpoint, 80 now"):
        train(config)
    assert (tmp_path / "config.yaml").read_text() == recorded  # still says what was trained
    assert not (tmp_path / "checkpoint-6.pt").exists()
