"""Reading weight files safely, and strict weight assignment into a model built on the meta
device."""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn


class CorruptFileError(ValueError):
    """A weight file that exists but cannot be read: empty, truncated or overwritten."""


def load_weights_file(path: str | os.PathLike[str]) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with errors that say what is wrong.

    Raises:
        FileNotFoundError: ``path`` does not exist (or is a directory).
        CorruptFileError: the file is empty, truncated or not a torch file.
        ValueError: the file holds objects other than tensors and plain values, which zipasr
            never unpickles (they could run code).
    """
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"{file}: no such file")
    if file.is_dir():
        raise FileNotFoundError(f"{file} is a directory, not a weight file")
    if file.stat().st_size == 0:
        raise CorruptFileError(f"{file} is empty (0 bytes): the file is corrupt")
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's own text goes on to suggest weights_only=False: keep only what it found.
        found = [x for x in str(error).splitlines() if x.startswith("WeightsUnpickler error:")]
        detail = f" ({found[0].removeprefix('WeightsUnpickler error:').strip()})" if found else ""
        raise ValueError(
            f"{file} holds objects other than tensors and plain values, which zipasr does not "
            f"load because unpickling them could run code{detail}"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CorruptFileError(
            f"{file} is corrupt or truncated and cannot be read ({first}); copy or download it "
            "again"
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
