"""Sentences over a closed English vocabulary, plus spoken digit strings (the ``en`` pool).

Every sentence belongs to exactly one split, decided by a hash of its text, so train, dev and
test never share a sentence however many are drawn.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable

DIGITS = tuple("zero one two three four five six seven eight nine oh".split())
NAMES = tuple(
    """anna ben clara david emma frank grace henry julia kevin laura martin nora oscar paula
    robert sarah thomas victor""".split()
)
ADJECTIVES = tuple(
    """red green blue small large old new quiet loud bright dark warm cold heavy light quick slow
    happy strange simple careful empty full wooden golden silver early late""".split()
)
NOUNS = tuple(
    """house garden river window table letter market teacher doctor train station bridge forest
    village kitchen road mountain boat picture music book chair door field horse dog cat bird
    street office school city morning evening story answer friend family question island engine
    paper basket""".split()
)
VERBS = tuple(
    """opened closed found painted carried watched visited cleaned moved followed remembered
    described noticed repaired wanted showed liked counted passed reached bought sold built
    saw""".split()
)
PREPOSITIONS = tuple("near behind under over beside inside across through".split())
TIMES = ("today", "yesterday", "tomorrow", "at night", "in the morning", "after dinner")
_DIGIT_FRAMES = (
    "please call {d}",
    "my number is {d}",
    "the code is {d}",
    "room {d} is on the left",
    "take bus {d} to the station",
    "{d}",
)


def _digits(rng: random.Random) -> str:
    return " ".join(rng.choice(DIGITS) for _ in range(rng.randint(3, 8)))


#: English accents bundled with espeak-ng.
ACCENTS = (
    "en-us",
    "en-us-nyc",
    "en",
    "en-gb-x-rp",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
)


def sentence(rng: random.Random) -> str:
    """One English sentence drawn from the templates."""
    kind = rng.random()
    a, n, v, p = ADJECTIVES, NOUNS, VERBS, PREPOSITIONS
    c = rng.choice
    if kind < 0.2:
        return c(_DIGIT_FRAMES).format(d=_digits(rng))
    if kind < 0.45:
        return f"the {c(a)} {c(n)} {c(v)} the {c(n)} {c(p)} the {c(n)}"
    if kind < 0.7:
        return f"{c(NAMES)} {c(v)} a {c(a)} {c(n)} {c(TIMES)}"
    if kind < 0.85:
        return f"{c(NAMES)} and {c(NAMES)} {c(v)} the {c(a)} {c(a)} {c(n)}"
    return f"{c(p)} the {c(n)} {c(NAMES)} {c(v)} {c(DIGITS[2:10])} {c(a)} {c(n)}s"


def vocabulary() -> set[str]:
    """Every word a generated sentence can contain."""
    words: set[str] = set()
    for group in (DIGITS, NAMES, ADJECTIVES, VERBS, PREPOSITIONS, TIMES, _DIGIT_FRAMES):
        for item in group:
            words.update(item.replace("{d}", "").split())
    words.update(NOUNS)
    words.update(noun + "s" for noun in NOUNS)
    words.update(("the", "a", "and"))
    return words


def split_of(sentence: str, fractions: tuple[float, float, float]) -> int:
    """0 (train), 1 (dev) or 2 (test): a fixed function of the sentence's text."""
    u = (zlib.crc32(sentence.encode()) % 10_000) / 10_000
    return 0 if u < fractions[0] else 1 if u < fractions[0] + fractions[1] else 2


class SentencesExhausted(RuntimeError):
    """A split of a sentence pool has no sentence left that was not drawn already."""


class SentenceSource:
    """Draws new sentences for one split, never repeating one (deterministic for a seed).

    ``draw`` makes one sentence from a generator (the English templates by default).
    """

    def __init__(
        self,
        split: int,
        fractions: tuple[float, float, float],
        seed: int,
        draw: Callable[[random.Random], str] | None = None,
    ) -> None:
        self.draw = draw or sentence
        self.split = split
        self.fractions = fractions
        self.rng = random.Random(seed * 3 + split)
        self.seen: set[str] = set()

    def next(self) -> str:
        for _ in range(100_000):
            s = self.draw(self.rng)
            if s not in self.seen and split_of(s, self.fractions) == self.split:
                self.seen.add(s)
                return s
        raise SentencesExhausted("the sentence space is exhausted; ask for fewer hours")
