"""Training checkpoints: one file per save, written atomically, found again by ``--resume auto``.

A :class:`TrainCheckpoint` (``checkpoint-<step>.pt`` in the experiment folder) holds everything
needed to carry on as if the run had never stopped: model, averaged model, optimizer, scheduler
and grad-scaler states, the training position (:class:`TrainState`: step, epoch, loss history)
and the sampler's position in the epoch, each process's RNG and regularizer state
(:class:`ProcessState`), the resolved config and the tokenizer.

On disk it is plain data (dicts, lists, numbers, strings, bytes and tensors; NumPy's RNG state is
converted), so :meth:`TrainCheckpoint.load` reads it with ``torch.load(weights_only=True)``: a
checkpoint cannot run code when it is loaded. The file is written to a temporary name in the same
folder, flushed to disk and renamed over the final name, so a crash at any moment leaves either
the new checkpoint or none (the previous ones are untouched); stray temporaries are removed.
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from zipasr.models import AsrModel
from zipasr.models.config import AsrModelConfig
from zipasr.models.storage import save
from zipasr.optim import Eden, ScaledAdam
from zipasr.regularizers import load_training_state, training_state
from zipasr.train.averaging import ModelAverager
from zipasr.train.config import TrainConfig, from_dict, to_dict
from zipasr.weights import CorruptFileError, load_weights_file

log = logging.getLogger(__name__)
_NAME = re.compile(r"^checkpoint-(\d+)\.pt$")
_TMP_SUFFIX = ".tmp"
#: Version of the on-disk layout, checked on load.
FORMAT = 1


@dataclass
class TrainState:
    """Where the run is: optimizer steps taken, the current epoch (1-based), batches of it
    consumed, the loss history (step, loss per frame) for the curve, the steps at which
    epochs ended (their checkpoints may be kept longer, see ``TrainConfig.keep_epochs``), and
    the validation error rates, if measured."""

    step: int = 0
    epoch: int = 1
    batches_in_epoch: int = 0
    train_curve: list[tuple[int, float]] = field(default_factory=list)
    valid_curve: list[tuple[int, float]] = field(default_factory=list)
    epoch_ends: list[int] = field(default_factory=list)
    #: (step, validation error rate in %) with ``valid_wer_utterances``.
    valid_wer_curve: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class RngStates:
    """Every RNG the training loop draws from: Python's, NumPy's (as a tensor, see the module
    docstring), torch's CPU and CUDA generators, and the loop's own chunk-size generator."""

    python: tuple[Any, ...]
    numpy: tuple[str, Tensor, int, int, float]
    torch_cpu: Tensor
    torch_cuda: list[Tensor]
    chunks: Tensor

    @classmethod
    def capture(cls, chunk_generator: torch.Generator) -> RngStates:
        numpy_state = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
        kind, keys, pos, has_gauss, gauss = numpy_state
        return cls(
            python=random.getstate(),
            numpy=(kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
            torch_cpu=torch.get_rng_state(),
            torch_cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            chunks=chunk_generator.get_state(),
        )

    def restore(self, chunk_generator: torch.Generator) -> None:
        kind, keys, pos, has_gauss, gauss = self.numpy
        random.setstate(self.python)
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        torch.set_rng_state(self.torch_cpu)
        if self.torch_cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self.torch_cuda)
        chunk_generator.set_state(self.chunks)


@dataclass
class ProcessState:
    """One process's own state (each DDP process draws its own dropout and augmentation):
    its RNGs and what its regularizers adapted (:func:`zipasr.regularizers.training_state`)."""

    rng: RngStates
    regularizers: dict[str, dict[str, float]]

    @classmethod
    def capture(cls, model: nn.Module, chunk_generator: torch.Generator) -> ProcessState:
        return cls(RngStates.capture(chunk_generator), training_state(model))

    def restore(self, model: nn.Module, chunk_generator: torch.Generator) -> None:
        self.rng.restore(chunk_generator)
        load_training_state(model, self.regularizers)


@dataclass
class TrainCheckpoint:
    """A training run's complete state; see the module docstring.

    Attributes:
        model, model_avg: state_dicts of the model and of the float64 running average.
        optimizer, scheduler, grad_scaler: their state_dicts (grad_scaler: None without fp16).
        state: the training position and loss history.
        sampler: the training sampler's position in the epoch; None at an epoch boundary.
        processes: one :class:`ProcessState` per data-parallel process, by rank.
        config: the resolved training config; model_config: the architecture.
        tokenizer: the sentencepiece model file (``bpe.model``) the run trains with.
        tokenizer_kind, normalizer: what the tokenizer is (``bpe``, ``char``, ...) and the
            transcript normaliser it applies (None in checkpoints of older versions: the
            config's ``data.tokenizer_type`` and ``data.normalizer`` then).
    """

    model: dict[str, Tensor]
    model_avg: dict[str, Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    grad_scaler: dict[str, Any] | None
    state: TrainState
    sampler: dict[str, Any] | None
    processes: list[ProcessState]
    config: TrainConfig
    model_config: AsrModelConfig
    tokenizer: bytes
    tokenizer_kind: str | None = None
    normalizer: str | None = None

    def save(self, path: str | Path) -> Path:
        """Writes the checkpoint atomically (see :func:`save_atomic`); returns ``path``."""
        return save_atomic(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path) -> TrainCheckpoint:
        """Reads a checkpoint written by :meth:`save` (tensors on the CPU)."""
        return cls.from_dict(load_checkpoint(path), where=str(path))

    def restore(
        self,
        *,
        model: nn.Module,
        averager: ModelAverager,
        optimizer: ScaledAdam,
        scheduler: Eden,
        grad_scaler: torch.amp.GradScaler | None,
        chunk_generator: torch.Generator,
        rank: int,
    ) -> TrainState:
        """Loads the states into the live objects of process ``rank`` and returns the training
        position. (The sampler's position goes to :func:`zipasr.data.make_loader`.) A process
        beyond those saved continues the last one's RNG streams."""
        model.load_state_dict(self.model)
        averager.load_state_dict(self.model_avg)
        optimizer.load_state_dict(self.optimizer)
        scheduler.load_state_dict(self.scheduler)
        if grad_scaler is not None and self.grad_scaler is not None:
            grad_scaler.load_state_dict(self.grad_scaler)
        self.processes[min(rank, len(self.processes) - 1)].restore(model, chunk_generator)
        return TrainState(**_plain_state(self.state))

    def to_dict(self) -> dict[str, Any]:
        """The plain data written to disk (see the module docstring)."""
        return {
            "format": FORMAT,
            "model": self.model,
            "model_avg": self.model_avg,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "grad_scaler": self.grad_scaler,
            "state": _plain_state(self.state),
            "sampler": self.sampler,
            "processes": [
                {"rng": vars(p.rng).copy(), "regularizers": p.regularizers} for p in self.processes
            ],
            "config": to_dict(self.config),
            "model_config": self.model_config.to_dict(),
            "tokenizer": self.tokenizer,
            "tokenizer_kind": self.tokenizer_kind,
            "normalizer": self.normalizer,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "checkpoint") -> TrainCheckpoint:
        """Inverse of :meth:`to_dict`."""
        if data.get("format") != FORMAT:
            raise ValueError(
                f"{where} is not a zipasr training checkpoint of format {FORMAT} (format="
                f"{data.get('format')!r}); resume from a checkpoint this version wrote"
            )
        return cls(
            model=data["model"],
            model_avg=data["model_avg"],
            optimizer=data["optimizer"],
            scheduler=data["scheduler"],
            grad_scaler=data["grad_scaler"],
            state=TrainState(**data["state"]),
            sampler=data["sampler"],
            processes=[
                ProcessState(RngStates(**p["rng"]), p["regularizers"]) for p in data["processes"]
            ],
            config=from_dict(TrainConfig, data["config"]),
            model_config=AsrModelConfig.from_dict(data["model_config"]),
            tokenizer=data["tokenizer"],
            tokenizer_kind=data.get("tokenizer_kind"),
            normalizer=data.get("normalizer"),
        )

    def tokenizer_record(self) -> tuple[str, str]:
        """(kind, normaliser) of the run's tokenizer."""
        data = self.config.data
        return self.tokenizer_kind or data.tokenizer_type, self.normalizer or data.normalizer


def write_model_dir(
    model: AsrModel, tokenizer: bytes, kind: str, normalizer: str, out_dir: str | Path
) -> Path:
    """Writes ``model`` as a zipasr model directory (:func:`zipasr.save`: config, weights,
    tokens.txt) with its tokenizer (``bpe.model`` and ``tokenizer.json``, which ``zipasr
    train``/``finetune`` read back), as a training run leaves it in ``exp_dir/model``."""
    from zipasr.data.tokenizer import Tokenizer, write_metadata

    out = save(model.cpu().eval(), out_dir)
    (out / "bpe.model").write_bytes(tokenizer)
    write_metadata(Tokenizer(out / "bpe.model", kind, normalizer), out)
    return out


def _plain_state(state: TrainState) -> dict[str, Any]:
    """A copy of ``state``'s fields, lists copied (the live state keeps growing)."""
    return {k: list(v) if isinstance(v, list) else v for k, v in vars(state).items()}


def checkpoint_path(exp_dir: str | Path, step: int) -> Path:
    return Path(exp_dir) / f"checkpoint-{step}.pt"


def save_atomic(state: dict[str, Any], path: str | Path) -> Path:
    """``torch.save(state)`` to ``path`` such that ``path`` is either complete or absent.

    Writes ``<path>.<pid>.tmp``, fsyncs it, renames it over ``path`` (atomic on POSIX) and
    fsyncs the folder so that the rename itself survives a power cut.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}{_TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The plain data of a file written by :func:`save_atomic`, on the CPU. Loaded with
    ``weights_only=True``: plain containers and tensors only, nothing that runs code.

    Raises:
        FileNotFoundError: no such file.
        CorruptCheckpointError: an empty, truncated or overwritten file.
        ValueError: a file holding other objects (not a checkpoint this version wrote).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"resume={path} is not a checkpoint file; pass 'auto' or a checkpoint-<step>.pt"
        )
    try:
        data = load_weights_file(path, "training checkpoint")
    except CorruptFileError as error:
        raise CorruptCheckpointError(str(error)) from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a zipasr training checkpoint")
    return data


class CorruptCheckpointError(CorruptFileError):
    """A checkpoint file that exists but cannot be read: truncated, overwritten or empty."""


def load_newest(exp_dir: str | Path) -> tuple[Path, TrainCheckpoint] | None:
    """The newest readable checkpoint of ``exp_dir`` and its contents, or None if there is none.

    A newer checkpoint that cannot be read (a disk filled up, a copy interrupted) is reported
    by name in a warning, renamed to ``<name>.corrupt`` so that it is neither picked again nor
    counted among the checkpoints to keep, and the one before it is used.
    """
    for path in reversed(list_checkpoints(exp_dir)):
        try:
            return path, TrainCheckpoint.load(path)
        except CorruptCheckpointError as error:
            aside = path.with_name(path.name + ".corrupt")
            log.warning(
                "%s; resuming from the checkpoint before it instead (%s is moved to %s)",
                error,
                path.name,
                aside.name,
            )
            os.replace(path, aside)
    return None


def list_checkpoints(exp_dir: str | Path) -> list[Path]:
    """The folder's checkpoints, oldest (lowest step) first; temporaries are not listed."""
    found = []
    folder = Path(exp_dir)
    if folder.is_dir():
        for p in folder.iterdir():
            m = _NAME.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def latest_checkpoint(exp_dir: str | Path) -> Path | None:
    """The newest checkpoint in ``exp_dir``, or None."""
    found = list_checkpoints(exp_dir)
    return found[-1] if found else None


def remove_stale(exp_dir: str | Path, keep_last: int, keep: Collection[int] = ()) -> None:
    """Deletes temporaries left by a crash and every checkpoint except the ``keep_last`` newest
    and those of the steps in ``keep`` (e.g. epoch ends)."""
    if keep_last < 1:
        raise ValueError(f"keep_last={keep_last} must be >= 1: a resume needs the newest")
    folder = Path(exp_dir)
    for tmp in folder.glob(f"checkpoint-*{_TMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
    found = list_checkpoints(folder)
    for p in found[: max(0, len(found) - keep_last)]:
        m = _NAME.match(p.name)
        if m and int(m.group(1)) not in keep:
            p.unlink(missing_ok=True)
