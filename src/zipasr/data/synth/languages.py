"""The languages the synthetic corpus speaks: an espeak-ng voice list and a sentence pool each.

espeak-ng itself speaks about a hundred languages (see the ``lang`` folder of the
``espeakng-loader`` bundle); a corpus needs a sentence pool for its language too, and pools are
written here for English (``en``) and Mandarin Chinese (``cmn``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from zipasr.data.synth import mandarin, sentences
from zipasr.text import is_cjk


@dataclass(frozen=True)
class Language:
    """A corpus language.

    Attributes:
        code: the name ``zipasr synth --language`` takes.
        accents: espeak-ng voices (``accent`` of ``accent+variant``) that speak it.
        sentence: draws one transcript.
        vocabulary: every unit (word or character) a transcript can contain.
        units: the units of one transcript, for the corpus statistics.
        normalizer, tokenizer, metric: what a model of this language trains and scores with.
    """

    code: str
    accents: tuple[str, ...]
    sentence: Callable[[random.Random], str]
    vocabulary: Callable[[], set[str]]
    units: Callable[[str], list[str]]
    normalizer: str
    tokenizer: str
    metric: str


def _characters(text: str) -> list[str]:
    return [c for c in text if is_cjk(c)]


LANGUAGES: dict[str, Language] = {
    "en": Language(
        "en",
        sentences.ACCENTS,
        sentences.sentence,
        sentences.vocabulary,
        str.split,
        normalizer="english",
        tokenizer="bpe",
        metric="wer",
    ),
    # espeak-ng's "cmn" voice reads Han characters with its Mandarin dictionary (Latin letters
    # as English); it is the only Mandarin accent bundled, so speakers differ by variant.
    "cmn": Language(
        "cmn",
        ("cmn",),
        mandarin.sentence,
        mandarin.vocabulary,
        _characters,
        normalizer="basic",
        tokenizer="char",
        metric="cer",
    ),
}


def language(code: str) -> Language:
    """The corpus language called ``code`` (``en`` or ``cmn``)."""
    if code not in LANGUAGES:
        raise ValueError(
            f"language={code!r} has no sentence pool; choose one of {sorted(LANGUAGES)}"
        )
    return LANGUAGES[code]
