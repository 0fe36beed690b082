"""zipasr's own model format: a directory that describes itself.

    model_dir/
      config.json   {"format": "zipasr-model", "version": 1, "model": AsrModelConfig.to_dict(),
                     "normalizer": the transcript normaliser ("english" when absent)}
      model.pt      the state_dict (torch.save; loaded with weights_only=True)
      tokens.txt    the token table in sherpa-onnx's format ("<token> <id>" per line), if any

:func:`save` writes it atomically (a sibling temporary directory renamed into place), so a crash
never leaves a half-written model; :func:`load_dir` needs nothing but the path.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from zipasr.models.asr import AsrModel
from zipasr.models.config import AsrModelConfig
from zipasr.weights import assign_weights

FORMAT, VERSION = "zipasr-model", 1


def save(model: AsrModel, path: str | os.PathLike[str]) -> Path:
    """Saves ``model`` (config, weights, token table) as the directory ``path``, atomically.

    An existing directory at ``path`` is replaced only once the new one is complete.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staging.chmod(0o777 & ~_umask())  # mkdtemp's 0o700 would hide the model from other users
    try:
        header = {
            "format": FORMAT,
            "version": VERSION,
            "model": model.config.to_dict(),
            "normalizer": model.normalizer,
        }
        _write(staging / "config.json", json.dumps(header, indent=2).encode())
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        with open(staging / "model.pt", "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        if model.tokens is not None:
            table = "".join(f"{token} {i}\n" for i, token in enumerate(model.tokens))
            _write(staging / "tokens.txt", table.encode())
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def load_dir(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> AsrModel:
    """Loads a model directory written by :func:`save`, in eval mode.

    :func:`zipasr.load` takes either such a directory or an icefall checkpoint file.
    """
    source = Path(path)
    config_file = source / "config.json"
    if not config_file.exists():
        raise FileNotFoundError(f"{source} is not a zipasr model directory (no config.json)")
    header = json.loads(config_file.read_text())
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(
            f"{config_file}: format {header.get('format')!r} version {header.get('version')!r}, "
            f"expected {FORMAT!r} version {VERSION}"
        )
    config = AsrModelConfig.from_dict(header["model"])
    tokens_file = source / "tokens.txt"
    tokens = read_tokens(tokens_file) if tokens_file.exists() else None
    state = torch.load(source / "model.pt", map_location=map_location, weights_only=True)
    with torch.device("meta"):
        model = AsrModel(config, tokens=tokens, normalizer=header.get("normalizer", "english"))
    assign_weights(model, state)
    return model.eval()


def read_tokens(path: str | os.PathLike[str]) -> list[str]:
    """Reads a sherpa-onnx ``tokens.txt`` ("<token> <id>" per line) into a list indexed by id."""
    entries: dict[int, str] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        token, _, index = line.rpartition(" ")
        if not token or not index.isdigit():
            raise ValueError(f"{path}:{number}: expected '<token> <id>', got {line!r}")
        entries[int(index)] = token
    if sorted(entries) != list(range(len(entries))):
        raise ValueError(f"{path}: token ids are not 0..{len(entries) - 1}")
    return [entries[i] for i in range(len(entries))]


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _umask() -> int:
    """The process's file-creation mask (reading it means setting it, so it is set back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
