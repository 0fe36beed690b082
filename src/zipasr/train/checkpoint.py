"""Training checkpoints: one file per save, written atomically, found again by ``--resume auto``.

A checkpoint (``checkpoint-<step>.pt`` in the experiment folder) holds everything needed to carry
on as if the run had never stopped: model, averaged model, optimizer, scheduler and grad-scaler
states, the training position (step, epoch, sampler state), every RNG state, the loss history,
the resolved config and the tokenizer. The file is written to a temporary name in the same folder,
flushed to disk and renamed over the final name, so a crash at any moment leaves either the new
checkpoint or none (the previous ones are untouched); stray temporaries are ignored and removed.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zipasr.regularizers.whiten import Whiten

_NAME = re.compile(r"^checkpoint-(\d+)\.pt$")
_TMP_SUFFIX = ".tmp"


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


def remove_stale(exp_dir: str | Path, keep_last: int, keep: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    """Deletes temporaries left by a crash and all but the ``keep_last`` newest checkpoints
    (steps in ``keep``, e.g. epoch ends, are never deleted)."""
    folder = Path(exp_dir)
    for tmp in folder.glob(f"checkpoint-*{_TMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
    found = list_checkpoints(folder)
    for p in found[: max(0, len(found) - keep_last)]:
        m = _NAME.match(p.name)
        if m and int(m.group(1)) not in keep:
            p.unlink(missing_ok=True)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Reads a checkpoint written by :func:`save_atomic` (on the CPU)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"resume={path} is not a checkpoint file; pass 'auto' or a checkpoint-<step>.pt"
        )
    return torch.load(path, map_location="cpu", weights_only=False)


def rng_states(chunk_generator: torch.Generator) -> dict[str, Any]:
    """Every RNG the training loop draws from (Python, NumPy, torch CPU and CUDA, and the
    loop's own chunk-size generator), for an exact resume on the same hardware."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "chunks": chunk_generator.get_state(),
    }


def restore_rng_states(states: dict[str, Any], chunk_generator: torch.Generator) -> None:
    """Inverse of :func:`rng_states`."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    chunk_generator.set_state(states["chunks"])


def regularizer_state(model: nn.Module) -> dict[str, float]:
    """Training state that lives outside the state_dict: each :class:`Whiten`'s adaptive
    probability (raised while its whitening metric exceeds the limit), by module name."""
    return {name: m.prob for name, m in model.named_modules() if isinstance(m, Whiten)}


def restore_regularizer_state(model: nn.Module, state: dict[str, float]) -> None:
    """Inverse of :func:`regularizer_state`."""
    modules = dict(model.named_modules())
    for name, prob in state.items():
        module = modules[name]
        assert isinstance(module, Whiten), (name, type(module))
        module.prob = prob
