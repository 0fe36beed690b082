from __future__ import annotations

from pathlib import Path

import torch

import zipasr
from tests.train.conftest import tiny_train_config
from zipasr.train import train
from zipasr.train.checkpoint import TrainCheckpoint, list_checkpoints
from zipasr.train.config import load_config


def test_tiny_training_lowers_the_loss(corpus: Path, tmp_path: Path) -> None:
    config = tiny_train_config(corpus, tmp_path / "exp", max_steps=36, save_every_steps=12)
    result = train(config)
    losses = [loss for _, loss in result.train_curve]
    assert len(losses) == 36
    first, last = sum(losses[:6]) / 6, sum(losses[-6:]) / 6
    assert last < 0.75 * first, (first, last)
    valid = [loss for _, loss in result.valid_curve]
    assert valid[-1] < valid[0], valid
    # What a run leaves behind: the resolved config, checkpoints, logs, the curve, the model.
    assert load_config(tmp_path / "exp" / "config.yaml") == config
    assert (tmp_path / "exp" / "training_curve.png").stat().st_size > 0
    assert any((tmp_path / "exp" / "tensorboard").iterdir())
    model = zipasr.load(result.model_dir)
    assert model.tokens is not None and model.config.encoder.causal
    ckpt = TrainCheckpoint.load(list_checkpoints(tmp_path / "exp")[-1])
    assert ckpt.state.step == 36 and ckpt.sampler is not None and ckpt.optimizer["state"]
    assert ckpt.config == config and ckpt.model_config == model.config
    assert ckpt.tokenizer == (result.model_dir / "bpe.model").read_bytes()
    # The exported model is the running average of the weights (period 2 over 36 steps).
    avg = ckpt.model_avg
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, avg[name].to(value.dtype))


def test_gradient_accumulation_steps_count_optimizer_updates(corpus: Path, tmp_path: Path) -> None:
    config = tiny_train_config(corpus, tmp_path / "exp", max_steps=3, accum_grad=2)
    config.data.valid_manifest = None
    result = train(config)
    assert result.steps == 3
    ckpt = TrainCheckpoint.load(list_checkpoints(tmp_path / "exp")[-1])
    assert ckpt.state.batches_in_epoch == 6  # two batches per step


def test_cli_train_applies_overrides_and_saves_the_resolved_config(
    corpus: Path, tmp_path: Path, capsys
) -> None:
    from zipasr.cli.main import main
    from zipasr.train.config import save_config

    path = save_config(tiny_train_config(corpus, tmp_path / "exp"), tmp_path / "tiny.yaml")
    args = ["train", str(path), "--max_steps", "2", "--data.valid_manifest", "null"]
    assert main(args) == 0
    assert "trained 2 steps" in capsys.readouterr().out
    resolved = load_config(tmp_path / "exp" / "config.yaml")
    assert resolved.max_steps == 2 and resolved.data.valid_manifest is None
    assert zipasr.load(tmp_path / "exp" / "model").tokens is not None
