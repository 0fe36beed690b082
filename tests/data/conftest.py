from __future__ import annotations

import json
from pathlib import Path

import pytest

from zipasr.data import Tokenizer, train_tokenizer
from zipasr.data.synth import build_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """A tiny synthetic corpus (~70 s of train audio), built once per test session."""
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(out, hours=0.02, seed=7)
    return out


@pytest.fixture(scope="session")
def tokenizer(corpus: Path, tmp_path_factory) -> Tokenizer:
    texts = [json.loads(line)["text"] for line in (corpus / "train.jsonl").open()]
    return train_tokenizer(texts, tmp_path_factory.mktemp("bpe"), vocab_size=120)
