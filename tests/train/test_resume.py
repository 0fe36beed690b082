"""A killed run resumes exactly; a crash while writing a checkpoint loses nothing older."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from tests.train.conftest import tiny_train_config
from zipasr.train import train
from zipasr.train.checkpoint import (
    CorruptCheckpointError,
    TrainCheckpoint,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_atomic,
)
from zipasr.train.config import save_config

KILL_AFTER = 12  # mid-epoch 2: an epoch has about 9 batches
STEPS = 16  # keep_last=2 keeps 14 and 16; the end of epoch 1 is kept as an epoch end


def _config(corpus: Path, exp: Path):
    # SpecAugment on: its random draws must be restored too.
    config = tiny_train_config(corpus, exp, max_steps=STEPS, save_every_steps=2)
    config.data.spec_augment = True
    return config


def test_resume_after_sigkill_equals_an_uninterrupted_run(corpus: Path, tmp_path: Path) -> None:
    killed = tmp_path / "killed"
    save_config(_config(corpus, killed), tmp_path / "killed.yaml")
    script = textwrap.dedent(
        f"""
        import os, signal
        from zipasr.train import load_config, train

        def kill_after(path):
            if path.name == "checkpoint-{KILL_AFTER}.pt":
                os.kill(os.getpid(), signal.SIGKILL)

        train(load_config({str(tmp_path / "killed.yaml")!r}), on_checkpoint=kill_after)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert latest_checkpoint(killed) == checkpoint_path(killed, KILL_AFTER)
    epoch_ends = load_checkpoint(latest_checkpoint(killed))["state"]["epoch_ends"]
    assert epoch_ends and epoch_ends[0] < KILL_AFTER  # an epoch-end checkpoint before the kill

    config = _config(corpus, killed)
    config.resume = "auto"
    resumed = train(config)
    assert resumed.steps == STEPS
    straight = train(_config(corpus, tmp_path / "straight"))

    a = load_checkpoint(checkpoint_path(killed, STEPS))
    b = load_checkpoint(checkpoint_path(tmp_path / "straight", STEPS))
    for key in ("model", "model_avg"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name)
    assert a["state"] == b["state"]  # including the loss history of every step
    assert resumed.train_curve == straight.train_curve
    # The resumed run deleted no checkpoint that the uninterrupted run keeps (epoch ends included).
    kept = [p.name for p in list_checkpoints(tmp_path / "straight")]
    assert checkpoint_path(tmp_path / "straight", epoch_ends[0]).name in kept
    assert [p.name for p in list_checkpoints(killed)] == kept


def test_a_corrupt_newest_checkpoint_is_named_and_the_previous_one_used(
    corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tiny_train_config(corpus, tmp_path, max_steps=6, valid_every_steps=100)
    train(config)
    newest = checkpoint_path(tmp_path, 6)
    newest.write_bytes(newest.read_bytes()[:1000])  # a copy cut short
    config.resume = "auto"
    with caplog.at_level(logging.WARNING):
        result = train(config)
    assert result.steps == 6
    assert "checkpoint-6.pt is corrupt or truncated" in caplog.text
    assert (tmp_path / "checkpoint-6.pt.corrupt").exists()  # set aside, not deleted
    assert load_checkpoint(newest)["state"]["step"] == 6  # written again by the resumed run
    with pytest.raises(CorruptCheckpointError, match="checkpoint-6.pt.corrupt is corrupt"):
        TrainCheckpoint.load(tmp_path / "checkpoint-6.pt.corrupt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CorruptCheckpointError, match="empty.pt is empty"):
        load_checkpoint(tmp_path / "empty.pt")


def test_kill_during_checkpoint_write_keeps_the_previous_one(tmp_path: Path) -> None:
    first = save_atomic({"step": 3, "weights": torch.arange(5.0)}, checkpoint_path(tmp_path, 3))
    # A process killed (SIGKILL) half-way through writing checkpoint 6.
    script = textwrap.dedent(
        f"""
        import os, signal, torch
        from zipasr.train import checkpoint

        def crash(obj, f, *args, **kwargs):
            f.write(b"half a checkpoint")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        torch.save = crash
        checkpoint.save_atomic({{"step": 6}}, checkpoint.checkpoint_path({str(tmp_path)!r}, 6))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # the torn temporary
    assert list_checkpoints(tmp_path) == [first]
    assert latest_checkpoint(tmp_path) == first
    state = load_checkpoint(first)
    assert state["step"] == 3 and torch.equal(state["weights"], torch.arange(5.0))


def test_resume_from_a_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint-9.pt"):
        load_checkpoint(tmp_path / "checkpoint-9.pt")
