"""The wide English sentence pool: a small grammar over :mod:`zipasr.data.synth.lexicon`, with
a fixed share of the lexicon held out of training.

About 12% of the content lemmas (nouns, verbs, adjectives, adverbs, names, places) never occur in
a training sentence, in any form; dev and test sentences draw from the whole lexicon, so about
half of them contain a word the model never heard. That split is what tells spelling learnt from
sound apart from phrases learnt by heart.
"""

from __future__ import annotations

import functools
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from zipasr.data.synth import lexicon

#: Percent of content lemmas held out of training.
HELD_OUT_PERCENT = 12

_DIGITS = tuple("zero one two three four five six seven eight nine oh".split())


def _words(block: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(block.split()))


def held_out(lemma: str) -> bool:
    """Whether ``lemma`` (and every form of it) is kept out of training sentences. Words of
    the fixed phrases ("in the evening", "please call ...") are never held out."""
    return (
        lemma not in _FIXED_WORDS
        and zlib.crc32(f"wide-holdout:{lemma}".encode()) % 100 < HELD_OUT_PERCENT
    )


def _sibilant_or_y(word: str) -> str:
    """English -s suffix: boxes, churches, cities, days, cats."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    return word + "s"


def plural(noun: str) -> str:
    """The plural of a lexicon noun."""
    return lexicon.IRREGULAR_PLURALS.get(noun) or (
        noun + "s" if noun in _HARD_CH else _sibilant_or_y(noun)
    )


#: Nouns whose final "ch" is said "k": plural with a plain -s.
_HARD_CH = frozenset({"stomach"})


def third_person(verb: str) -> str:
    """The present third-person singular of a lexicon verb (she carries, he watches)."""
    return _sibilant_or_y(verb)


@dataclass(frozen=True)
class Vocabulary:
    """The lemmas one split may use, by part of speech; verbs as (base, past)."""

    nouns: tuple[str, ...]
    verbs: tuple[tuple[str, str], ...]
    adjectives: tuple[str, ...]
    adverbs: tuple[str, ...]
    names: tuple[str, ...]
    places: tuple[str, ...]

    @staticmethod
    @functools.cache
    def of(training: bool) -> Vocabulary:
        """The whole lexicon, or (``training``) the lexicon less its held-out lemmas."""

        def keep(lemma: str) -> bool:
            return not (training and held_out(lemma))

        verbs = tuple(
            (base, past)
            for base, past in (pair.split(":") for pair in _words(lexicon.VERBS))
            if keep(base)
        )
        return Vocabulary(
            tuple(w for w in _words(lexicon.NOUNS) if keep(w)),
            verbs,
            tuple(w for w in _words(lexicon.ADJECTIVES) if keep(w)),
            tuple(w for w in _words(lexicon.ADVERBS) if keep(w)),
            tuple(w for w in _words(lexicon.NAMES) if keep(w)),
            tuple(w for w in _words(lexicon.PLACES) if keep(w)),
        )


_NUMBERS = _words(lexicon.NUMBERS)
_PREPOSITIONS = _words(lexicon.PREPOSITIONS)
_TIMES = tuple(t.strip() for t in lexicon.TIMES.replace("\n", " ").split("|") if t.strip())
_DIGIT_FRAMES = (
    "please call {d}",
    "my number is {d}",
    "the code is {d}",
    "take bus {d} to the {n}",
    "{d}",
)


_FIXED_WORDS = frozenset(
    w for phrase in (*_TIMES, *_DIGIT_FRAMES) for w in phrase.split() if not w.startswith("{")
)


def _count(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(_NUMBERS[2:20])
    return f"{rng.choice(_NUMBERS[20:28])} {rng.choice(_NUMBERS[1:10])}"


def sentence_of(vocabulary: Vocabulary, rng: random.Random) -> str:
    """One sentence over ``vocabulary`` (English grammar, meaning not guaranteed)."""
    c = rng.choice
    v = vocabulary

    def noun() -> str:
        return c(v.nouns)

    def nouns() -> str:
        return plural(c(v.nouns))

    def adj() -> str:
        return c(v.adjectives)

    def base() -> str:
        return c(v.verbs)[0]

    def past() -> str:
        return c(v.verbs)[1]

    def verbs() -> str:
        return third_person(c(v.verbs)[0])

    name, place, adverb, prep, when = (
        c(v.names),
        c(v.places),
        c(v.adverbs),
        c(_PREPOSITIONS),
        c(_TIMES),
    )
    frames: tuple[Callable[[], str], ...] = (
        lambda: f"the {adj()} {noun()} {past()} the {noun()} {prep} the {noun()}",
        lambda: f"{name} {past()} a {adj()} {noun()} {when}",
        lambda: f"{name} and {c(v.names)} {past()} the {adj()} {adj()} {nouns()}",
        lambda: f"{prep} the {noun()} {name} {past()} {_count(rng)} {adj()} {nouns()}",
        lambda: f"why did {name} {base()} the {noun()} {when}",
        lambda: f"{name} {verbs()} {adverb} when the {noun()} is {adj()}",
        lambda: f"there were {_count(rng)} {nouns()} {prep} the {adj()} {noun()}",
        lambda: f"please {base()} the {noun()} before the {noun()} {verbs()}",
        lambda: f"my {noun()} in {place} was {adj()} and {adj()}",
        lambda: f"{name} said that the {nouns()} were {adj()}",
        lambda: f"do not {base()} the {adj()} {noun()} {when}",
        lambda: f"we {past()} the {nouns()} in {place} {when}",
        lambda: f"the {noun()} of the {noun()} is {adverb} {adj()}",
        lambda: f"will you {base()} my {nouns()} {when}",
        lambda: f"{name} from {place} {adverb} {past()} the {noun()}",
        lambda: f"how {adj()} is the {noun()} {prep} the {noun()}",
        lambda: f"a {adj()} {noun()} {adverb} {past()} the {adj()} {noun()}",
        lambda: f"they {base()} {nouns()} and {nouns()} {when}",
    )
    if rng.random() < 0.08:
        digits = " ".join(c(_DIGITS) for _ in range(rng.randint(3, 7)))
        return c(_DIGIT_FRAMES).format(d=digits, n=noun())
    return c(frames)()


def sentence_for(split: int) -> Callable[[random.Random], str]:
    """The sentence drawer of a split: 0 (train) never uses a held-out lemma; 1 (dev) and 2
    (test) use the whole lexicon."""
    vocabulary = Vocabulary.of(training=split == 0)
    return functools.partial(sentence_of, vocabulary)


def sentence(rng: random.Random) -> str:
    """One sentence over the whole lexicon."""
    return sentence_of(Vocabulary.of(training=False), rng)


@functools.cache
def _vocabulary() -> frozenset[str]:
    v = Vocabulary.of(training=False)
    words: set[str] = set(_DIGITS) | set(_NUMBERS) | set(_PREPOSITIONS)
    words.update(v.nouns, map(plural, v.nouns), v.adjectives, v.adverbs, v.names, v.places)
    for base, past in v.verbs:
        words.update((base, past, third_person(base)))
    for frame in (*_TIMES, *_DIGIT_FRAMES):
        words.update(w for w in frame.split() if not w.startswith("{"))
    words.update(
        "the a and why did when is there were please before my in was said that do not we of "
        "will you from how they".split()
    )
    return frozenset(words)


def vocabulary() -> set[str]:
    """Every word a sentence of the pool can contain."""
    return set(_vocabulary())
