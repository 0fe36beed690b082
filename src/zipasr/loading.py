"""``zipasr.load``: any model a user hands us, a zipasr model directory or an icefall file."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from zipasr.convert.checkpoint import load_icefall
from zipasr.models.asr import AsrModel
from zipasr.models.storage import load_dir, read_tokens
from zipasr.text import guess_normalizer


def load(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> AsrModel:
    """Loads a model in eval mode.

    A directory is zipasr's own format (written by :func:`zipasr.save`); a file is taken to be an
    icefall checkpoint and loaded with :func:`zipasr.load_icefall`, with the ``tokens.txt``
    beside it, if there is one (its normaliser is guessed from the table:
    :func:`zipasr.text.guess_normalizer`).
    """
    source = Path(path)
    if source.is_file():
        tokens_file = source.parent / "tokens.txt"
        tokens = read_tokens(tokens_file) if tokens_file.exists() else None
        model = load_icefall(source, tokens=tokens).to(map_location)
        model.normalizer = guess_normalizer(tokens)  # icefall records none: from the table
        return model
    return load_dir(source, map_location=map_location)
