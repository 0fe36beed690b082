"""``zipasr.load``: any model a user hands us, a zipasr model directory or an icefall file."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from zipasr.convert.checkpoint import load_icefall
from zipasr.models.asr import AsrModel
from zipasr.models.storage import check_tokens, load_dir, read_tokens
from zipasr.text import guess_normalizer
from zipasr.weights import check_finite


def load(
    path: str | os.PathLike[str],
    *,
    map_location: str | torch.device = "cpu",
    tokens: str | os.PathLike[str] | None = None,
) -> AsrModel:
    """Loads a model in eval mode.

    A directory is zipasr's own format (written by :func:`zipasr.save`); a file is taken to be an
    icefall checkpoint and loaded with :func:`zipasr.load_icefall`, with the ``tokens.txt``
    beside it, if there is one (its normaliser is guessed from the table:
    :func:`zipasr.text.guess_normalizer`). ``tokens``: a ``tokens.txt`` to use instead of the
    model's own.

    Raises:
        FileNotFoundError: ``path`` (or ``tokens``) does not exist.
        ValueError: a corrupt or mismatched file (named), a token table whose size is not the
            model's vocabulary size, or weights holding NaN or Inf.
    """
    source = Path(path)
    if tokens is not None and not Path(tokens).is_file():
        raise FileNotFoundError(f"{tokens}: no such token table")
    if source.is_file():
        beside = source.parent / "tokens.txt"
        table = tokens if tokens is not None else beside if beside.exists() else None
        model = load_icefall(source, tokens=read_tokens(table) if table else None)
        check_tokens(model.tokens, model.config.vocab_size, table or "tokens.txt")
        check_finite(model, str(source))
        model.normalizer = guess_normalizer(model.tokens)  # icefall records none: from the table
        return model.to(map_location)
    given = read_tokens(tokens) if tokens is not None else None
    return load_dir(source, map_location=map_location, tokens=given, tokens_source=tokens or "")
