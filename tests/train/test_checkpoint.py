"""The typed training checkpoint: a weights_only round trip, a restore that continues every RNG,
and the checkpoints a run keeps."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.train.conftest import tiny_train_config
from zipasr import AsrModel, AsrModelConfig, TransducerConfig
from zipasr.encoder import ZipformerConfig
from zipasr.optim import Eden, ScaledAdam
from zipasr.testing import random_features
from zipasr.train import train
from zipasr.train.averaging import ModelAverager
from zipasr.train.checkpoint import (
    ProcessState,
    TrainCheckpoint,
    TrainState,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    save_atomic,
)
from zipasr.train.config import TrainConfig


def _objects(seed: int):
    torch.manual_seed(seed)
    config = AsrModelConfig(
        ZipformerConfig.tiny(causal=True), 32, TransducerConfig(16, 16), ctc=True
    )
    model = AsrModel(config)
    optimizer = ScaledAdam(model.named_parameters(), lr=0.045, clipping_scale=2.0)
    scheduler = Eden(optimizer, 100.0, 3.5)
    return model, ModelAverager(model, period=1), optimizer, scheduler


def _draws(chunks: torch.Generator) -> tuple:
    return (
        random.random(),
        float(np.random.rand()),
        float(torch.rand(())),
        int(torch.randint(100, (), generator=chunks)),
    )


def test_checkpoint_round_trips_through_a_weights_only_load(tmp_path: Path) -> None:
    model, averager, optimizer, scheduler = _objects(0)
    model.train()
    feats, lengths = random_features([120, 90])
    model(feats, lengths, [[3, 4, 5], [6, 7]]).pruned.backward()
    scheduler.step_batch(1)
    optimizer.step()
    averager.update(model, 1)
    chunks = torch.Generator().manual_seed(3)
    state = TrainState(step=1, batches_in_epoch=1, train_curve=[(1, 2.5)])
    config = TrainConfig(max_steps=7)
    saved = TrainCheckpoint(
        model=model.state_dict(),
        model_avg=averager.state_dict(),
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict(),
        grad_scaler=None,
        state=state,
        sampler=None,
        processes=[ProcessState.capture(model, chunks)],
        config=config,
        model_config=model.config,
        tokenizer=b"a sentencepiece model",
    )
    expected_draws = _draws(chunks)
    path = saved.save(checkpoint_path(tmp_path, 1))
    torch.load(path, weights_only=True)  # plain data: NumPy's RNG state went in as a tensor

    loaded = TrainCheckpoint.load(path)
    assert loaded.state == state and loaded.config == config
    assert loaded.model_config == model.config and loaded.tokenizer == b"a sentencepiece model"
    fresh, fresh_averager, fresh_optimizer, fresh_scheduler = _objects(1)
    fresh_chunks = torch.Generator().manual_seed(4)
    restored = loaded.restore(
        model=fresh,
        averager=fresh_averager,
        optimizer=fresh_optimizer,
        scheduler=fresh_scheduler,
        grad_scaler=None,
        chunk_generator=fresh_chunks,
        rank=0,
    )
    assert restored == state
    assert _draws(fresh_chunks) == expected_draws  # every RNG continues where it was saved
    for name, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name
    assert fresh_optimizer.state_dict()["state"].keys() == optimizer.state_dict()["state"].keys()
    assert fresh_scheduler.state_dict() == scheduler.state_dict()


def test_a_file_that_is_not_a_training_checkpoint_is_named(tmp_path: Path) -> None:
    path = save_atomic({"model": {}}, tmp_path / "checkpoint-1.pt")
    with pytest.raises(ValueError, match="checkpoint-1.pt is not a zipasr training checkpoint"):
        TrainCheckpoint.load(path)
    # NumPy arrays, as older checkpoints held them: refused, not unpickled.
    path = save_atomic({"numpy": np.random.get_state()}, tmp_path / "checkpoint-2.pt")
    with pytest.raises(ValueError, match="checkpoint-2.pt holds objects other than tensors"):
        TrainCheckpoint.load(path)


@pytest.mark.parametrize(("keep_last", "keep_epochs"), [(2, 1), (1, 0)])
def test_a_run_leaves_the_checkpoints_its_config_keeps(
    corpus: Path, tmp_path: Path, keep_last: int, keep_epochs: int
) -> None:
    """12 steps, saving every 2, across an epoch end (about 9 batches): the newest
    ``keep_last`` checkpoints remain, plus those of the last ``keep_epochs`` epoch ends."""
    exp = tmp_path / "exp"
    config = tiny_train_config(
        corpus, exp, save_every_steps=2, keep_last=keep_last, keep_epochs=keep_epochs
    )
    config.data = replace(config.data, valid_manifest=None)
    written: list[int] = []
    train(config, on_checkpoint=lambda path: written.append(int(path.stem.split("-")[1])))
    epoch_ends = TrainCheckpoint.load(latest_checkpoint(exp)).state.epoch_ends
    newest = sorted(set(written))[-keep_last:]
    assert epoch_ends and epoch_ends[-1] not in newest  # so keep_epochs has work to do
    kept_ends = epoch_ends[len(epoch_ends) - keep_epochs :]
    left = {int(p.stem.split("-")[1]) for p in list_checkpoints(exp)}
    assert left == set(newest) | set(kept_ends)
    assert latest_checkpoint(exp) == checkpoint_path(exp, 12)  # what a resume needs
