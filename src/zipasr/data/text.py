"""Transcript normalisation, applied the same way when training the tokenizer, when building
batches and when scoring.

The rule, in order: Unicode NFKC; upper case; typographic apostrophes become ``'``; every
character that is not A-Z, 0-9 or ``'`` becomes a space; runs of spaces collapse and the ends are
trimmed. This is LibriSpeech's convention (upper case, apostrophes kept, no punctuation), so
models trained here and icefall's LibriSpeech models read the same kind of text.
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_NOT_KEPT = re.compile(r"[^A-Z0-9']+")


def normalize_text(text: str) -> str:
    """Returns ``text`` normalised by the rule in this module's docstring.

    >>> normalize_text("  Hello, world! It’s 9 a.m.")
    "HELLO WORLD IT'S 9 A M"
    """
    text = unicodedata.normalize("NFKC", text).upper().translate(_APOSTROPHES)
    return _NOT_KEPT.sub(" ", text).strip()
