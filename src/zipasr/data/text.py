"""Transcript normalisation, applied the same way when training the tokenizer, when building
batches and when scoring. The normalisers themselves live in :mod:`zipasr.text` (pure Python);
:func:`normalize_text` is the ``"english"`` one, zipasr's historical default.
"""

from __future__ import annotations

from zipasr.text import NORMALIZERS, normalize, normalize_english, normalizer

__all__ = ["NORMALIZERS", "normalize", "normalize_text", "normalizer"]


def normalize_text(text: str) -> str:
    """Returns ``text`` normalised by the ``"english"`` rule: NFKC, upper case, only A-Z, 0-9
    and ``'`` kept (:func:`zipasr.text.normalize_english`).

    >>> normalize_text("  Hello, world! It’s 9 a.m.")
    "HELLO WORLD IT'S 9 A M"
    """
    return normalize_english(text)
