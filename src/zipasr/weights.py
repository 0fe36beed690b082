"""Reading weight files safely, and strict weight assignment into a model built on the meta
device."""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn


class CorruptFileError(ValueError):
    """A weight file that exists but cannot be read: empty, truncated, overwritten, or not a
    torch file at all."""


#: The first bytes of every file ``torch.save`` writes (a zip archive).
_ZIP_MAGIC = b"PK\x03\x04"
_LFS_POINTER = b"version https://git-lfs"


def load_weights_file(path: str | os.PathLike[str], what: str = "weight file") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with errors that say what is wrong.

    ``what`` names the kind of file in messages (e.g. "training checkpoint").

    Raises:
        FileNotFoundError: ``path`` does not exist (or is a directory).
        CorruptFileError: the file is empty, truncated, a Git LFS pointer, or not a torch file.
        ValueError: the file holds objects other than tensors and plain values, which zipasr
            never unpickles (they could run code).
    """
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"{file}: no such {what}")
    if file.is_dir():
        raise FileNotFoundError(f"{file} is a directory, not a {what}")
    with open(file, "rb") as f:
        head = f.read(64)
    if not head:
        raise CorruptFileError(f"{file} is empty (0 bytes): the {what} is corrupt")
    if head.startswith(_LFS_POINTER):
        raise CorruptFileError(
            f"{file} is a Git LFS pointer, not the {what} itself: run `git lfs pull` in its "
            "repository"
        )
    if not head.startswith(_ZIP_MAGIC):
        raise CorruptFileError(
            f"{file} is not a torch file (it does not start as torch.save writes): the {what} "
            "is corrupt, or another kind of file"
        )
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's own text goes on to suggest weights_only=False: keep only what it found.
        text = str(error)
        if "WeightsUnpickler error" not in text:  # no forbidden object named: damaged data
            raise CorruptFileError(f"{file} is corrupt: its data cannot be read") from None
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        detail = f" (it holds a {found.group(1)})" if found else ""
        raise ValueError(
            f"{file} holds objects other than tensors and plain values, which zipasr does not "
            f"load because unpickling them could run code{detail}"
        ) from None
    except Exception:  # torch's zip reader and unpickler raise many types for damaged data
        raise CorruptFileError(
            f"{file} is corrupt or truncated and cannot be read; copy or download it again"
        ) from None


def check_finite(model: nn.Module, where: str) -> None:
    """Raises ValueError if any parameter or buffer of ``model`` holds NaN or Inf (such a model
    would only ever produce empty or garbage output), naming the first tensors affected."""
    bad = [
        name
        for name, tensor in (*model.named_parameters(), *model.named_buffers())
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ValueError(
            f"{where}: the weights hold NaN or Inf values (in {', '.join(bad[:3])}{more}); the "
            "model is broken (a diverged training run?): use an earlier checkpoint"
        )


def assign_weights(model: nn.Module, weights: Mapping[str, Tensor]) -> None:
    """Loads ``weights`` into ``model`` (typically built under ``torch.device("meta")``, so that
    nothing is initialised twice), strictly: a missing or unexpected key raises KeyError and a
    shape mismatch ValueError, naming the key. The model gets float32 copies, never the caller's
    tensors."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    if missing or unexpected:
        raise KeyError(
            f"weights do not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
            + (
                f" (and {len(missing) + len(unexpected) - 10} more)"
                if len(missing) + len(unexpected) > 10
                else ""
            )
        )
    for key, value in weights.items():
        if value.shape != expected[key].shape:
            raise ValueError(
                f"{key}: shape {tuple(value.shape)} given, {tuple(expected[key].shape)} expected"
            )
    model.load_state_dict({k: v.detach().float().clone() for k, v in weights.items()}, assign=True)
