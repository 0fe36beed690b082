"""The languages the synthetic corpus speaks: an espeak-ng voice list and a sentence pool each.

espeak-ng itself speaks about a hundred languages (see the ``lang`` folder of the
``espeakng-loader`` bundle); a corpus needs a sentence pool for its language too, and pools are
written here for English (``en``) and Mandarin Chinese (``cmn``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from zipasr.data.synth import mandarin, sentences, wide
from zipasr.text import is_cjk


@dataclass(frozen=True)
class Pool:
    """A sentence pool of a language.

    Attributes:
        sentence_for: the drawer of one split (0 train, 1 dev, 2 test); a pool with held-out
            words gives training a drawer that never uses them.
        vocabulary: every unit (word or character) a transcript can contain.
    """

    sentence_for: Callable[[int], Callable[[random.Random], str]]
    vocabulary: Callable[[], set[str]]


def _same_for_every_split(
    draw: Callable[[random.Random], str],
) -> Callable[[int], Callable[[random.Random], str]]:
    return lambda split: draw


@dataclass(frozen=True)
class Language:
    """A corpus language.

    Attributes:
        code: the name ``zipasr synth --language`` takes.
        accents: espeak-ng voices (``accent`` of ``accent+variant``) that speak it.
        pools: its sentence pools by name; the first is the default.
        units: the units of one transcript, for the corpus statistics.
        normalizer, tokenizer, metric: what a model of this language trains and scores with.
    """

    code: str
    accents: tuple[str, ...]
    pools: dict[str, Pool]
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
        {
            # 199 words in fixed templates: quick to learn, a phrase book.
            "templates": Pool(_same_for_every_split(sentences.sentence), sentences.vocabulary),
            # About 3,150 words, 12% of the lemmas held out of training (zipasr.data.synth.wide).
            "wide": Pool(wide.sentence_for, wide.vocabulary),
        },
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
        {"templates": Pool(_same_for_every_split(mandarin.sentence), mandarin.vocabulary)},
        _characters,
        normalizer="basic",
        tokenizer="char",
        metric="cer",
    ),
}


def pool(code: str, name: str | None = None) -> Pool:
    """The sentence pool ``name`` of language ``code`` (its default pool when ``name`` is None)."""
    spec = language(code)
    if name is None:
        return next(iter(spec.pools.values()))
    if name not in spec.pools:
        raise ValueError(
            f"pool={name!r}: language {code!r} has the sentence pools {sorted(spec.pools)}"
        )
    return spec.pools[name]


def language(code: str) -> Language:
    """The corpus language called ``code`` (``en`` or ``cmn``)."""
    if code not in LANGUAGES:
        raise ValueError(
            f"language={code!r} has no sentence pool; choose one of {sorted(LANGUAGES)}"
        )
    return LANGUAGES[code]
