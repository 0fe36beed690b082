"""zipasr's own model directory: self-describing, atomic, strict."""

from __future__ import annotations

import json
import os
from unittest import mock

import pytest
import torch

import zipasr
from zipasr.models import storage
from zipasr.testing import random_features, tiny_config


def tiny_model(**kwargs) -> zipasr.AsrModel:
    config = zipasr.AsrModelConfig(
        tiny_config(causal=True),
        vocab_size=20,
        transducer=zipasr.TransducerConfig(16, 24, 2),
        ctc=True,
    )
    return zipasr.AsrModel(config, **kwargs).eval()


def test_round_trip_needs_only_the_path(tmp_path):
    model = tiny_model(tokens=["<blk>", "<sos/eos>", "<unk>"] + [f"▁w{i}" for i in range(17)])
    zipasr.save(model, tmp_path / "model")
    loaded = zipasr.load(tmp_path / "model")
    assert loaded.config == model.config and loaded.tokens == model.tokens
    assert not loaded.training
    x, lengths = random_features([120, 90])
    with torch.no_grad():
        a, _ = model.encode(x, lengths, chunk_frames=16, left_context_frames=32)
        b, _ = loaded.encode(x, lengths, chunk_frames=16, left_context_frames=32)
    assert torch.equal(a, b)
    assert (tmp_path / "model" / "tokens.txt").read_text().splitlines()[3] == "▁w0 3"
    header = json.loads((tmp_path / "model" / "config.json").read_text())
    assert header["format"] == "zipasr-model" and header["model"]["encoder"]["causal"] is True


def test_failed_save_keeps_the_previous_model(tmp_path):
    first = tiny_model()
    zipasr.save(first, tmp_path / "model")
    with mock.patch.object(storage.torch, "save", side_effect=OSError("disk full")):
        with pytest.raises(OSError, match="disk full"):
            zipasr.save(tiny_model(), tmp_path / "model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"], "no temporary left behind"
    loaded = zipasr.load(tmp_path / "model")
    for key, value in first.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_save_overwrites(tmp_path):
    zipasr.save(tiny_model(), tmp_path / "model")
    second = tiny_model()
    zipasr.save(second, tmp_path / "model")
    loaded = zipasr.load(tmp_path / "model")
    key = "transducer.joiner.output_linear.bias"
    assert torch.equal(loaded.state_dict()[key], second.state_dict()[key])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_load_rejects_what_is_not_a_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        zipasr.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(ValueError, match="expected 'zipasr-model'"):
        zipasr.load(tmp_path)


def test_tokens_file_errors(tmp_path):
    (tmp_path / "tokens.txt").write_text("<blk> 0\n<unk> 2\n")
    with pytest.raises(ValueError, match="not 0..1"):
        storage.read_tokens(tmp_path / "tokens.txt")


def test_config_dict_round_trip():
    config = tiny_model().config
    assert zipasr.AsrModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown model config fields"):
        zipasr.AsrModelConfig.from_dict({**config.to_dict(), "colour": "blue"})
    with pytest.raises(ValueError, match="transducer head, a CTC head, or both"):
        zipasr.AsrModelConfig(tiny_config(), transducer=None, ctc=False)


def test_saved_directory_has_the_usual_permissions(tmp_path):
    """The model folder gets the permissions of any new folder (umask), not mkdtemp's 0o700."""
    old = os.umask(0o022)
    try:
        zipasr.save(tiny_model(), tmp_path / "model")
    finally:
        os.umask(old)
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755


def test_the_normaliser_is_recorded_and_old_folders_are_english(tmp_path):
    config = zipasr.AsrModelConfig(tiny_config(), vocab_size=6, ctc=True)
    tokens = ["<blk>", "<sos/eos>", "<unk>", "今", "天", "▁"]
    path = zipasr.save(zipasr.AsrModel(config, tokens=tokens, normalizer="basic"), tmp_path / "m")
    assert zipasr.load(path).normalizer == "basic"
    header = json.loads((path / "config.json").read_text())
    assert header["normalizer"] == "basic"
    del header["normalizer"]  # a folder saved before the field existed
    (path / "config.json").write_text(json.dumps(header))
    assert zipasr.load(path).normalizer == "english"
