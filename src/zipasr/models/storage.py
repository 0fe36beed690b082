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

from zipasr.files import current_umask
from zipasr.models.asr import AsrModel
from zipasr.models.config import AsrModelConfig
from zipasr.weights import assign_weights, check_finite, load_weights_file

FORMAT, VERSION = "zipasr-model", 1


def save(model: AsrModel, path: str | os.PathLike[str]) -> Path:
    """Saves ``model`` (config, weights, token table) as the directory ``path``, atomically.

    An existing directory at ``path`` is replaced only once the new one is complete.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staging.chmod(0o777 & ~current_umask())  # mkdtemp's 0o700 would hide the model from other users
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


def load_dir(
    path: str | os.PathLike[str],
    *,
    map_location: str | torch.device = "cpu",
    tokens: list[str] | None = None,
    tokens_source: str | os.PathLike[str] = "tokens",
) -> AsrModel:
    """Loads a model directory written by :func:`save`, in eval mode.

    ``tokens``: a token table to use instead of the directory's ``tokens.txt`` (named
    ``tokens_source`` in errors).

    :func:`zipasr.load` takes either such a directory or an icefall checkpoint file.
    """
    source = Path(path)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such model directory or checkpoint file")
    config_file = source / "config.json"
    if not config_file.exists():
        raise FileNotFoundError(
            f"{source} is not a zipasr model directory (no config.json); pass the folder "
            "zipasr train or zipasr.save wrote, or an icefall checkpoint file"
        )
    try:
        header = json.loads(config_file.read_text(encoding="utf-8"))
    except ValueError as error:  # not UTF-8, or not JSON
        raise ValueError(f"{config_file} is corrupt (not JSON: {error})") from None
    if not isinstance(header, dict) or (header.get("format"), header.get("version")) != (
        FORMAT,
        VERSION,
    ):
        found = header if not isinstance(header, dict) else header.get("format")
        version = header.get("version") if isinstance(header, dict) else None
        raise ValueError(
            f"{config_file}: format {found!r} version {version!r}, expected {FORMAT!r} "
            f"version {VERSION}"
        )
    try:
        config = AsrModelConfig.from_dict(header["model"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{config_file} is corrupt ({type(error).__name__}: {error})") from None
    if tokens is None:
        tokens_source = source / "tokens.txt"
        tokens = read_tokens(tokens_source) if tokens_source.exists() else None
    check_tokens(tokens, config.vocab_size, tokens_source)
    state = load_weights_file(source / "model.pt")
    if not isinstance(state, dict):
        raise ValueError(f"{source / 'model.pt'} does not hold a state_dict")
    with torch.device("meta"):
        model = AsrModel(config, tokens=tokens, normalizer=header.get("normalizer", "english"))
    try:
        assign_weights(model, state)
    except KeyError as error:
        raise ValueError(f"{source / 'model.pt'} does not fit {config_file}: {error}") from None
    check_finite(model, str(source / "model.pt"))
    return model.to(map_location).eval()


def check_tokens(tokens: list[str] | None, vocab_size: int, where: str | os.PathLike[str]) -> None:
    """Raises ValueError unless ``tokens`` (if any) has one entry per model output."""
    if tokens is not None and len(tokens) != vocab_size:
        raise ValueError(
            f"{where} has {len(tokens)} tokens but the model has {vocab_size} outputs: it is "
            "the token table of another model"
        )


def read_tokens(path: str | os.PathLike[str]) -> list[str]:
    """Reads a sherpa-onnx ``tokens.txt`` ("<token> <id>" per line) into a list indexed by id."""
    entries: dict[int, str] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a token table (not UTF-8 text)") from None
    for number, line in enumerate(text.splitlines(), 1):
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
