"""Synthetic speakers: an espeak-ng accent, a voice variant, and a personal rate and pitch."""

from __future__ import annotations

import random
from dataclasses import dataclass

from zipasr.data.synth.espeak import Espeak
from zipasr.data.synth.sentences import ACCENTS

#: Variants that are effects rather than voices (robots, whispering, croaking).
_NOT_SPEECH = ("robo", "robot", "whisper", "croak", "demonic", "tweaky", "unirobot")


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: ``voice`` is ``accent+variant``; rate in words per minute and
    pitch (0-100) are the speaker's own, jittered per utterance."""

    id: str
    voice: str
    words_per_minute: int
    pitch: int


def all_speakers(seed: int, accents: tuple[str, ...] = ACCENTS) -> list[Speaker]:
    """Every accent x human-sounding variant, each with a rate and pitch drawn from ``seed``
    (``accents``: espeak-ng voices, English ones by default)."""
    rng = random.Random(seed)
    variants = [v for v in Espeak.get().variants() if not v.lower().startswith(_NOT_SPEECH)]
    speakers = []
    for accent in accents:
        for variant in variants:
            name = f"{accent}+{variant}"
            speakers.append(
                Speaker(
                    id=name.replace("+", "_").replace(" ", "-"),
                    voice=name,
                    words_per_minute=rng.randint(135, 195),
                    pitch=rng.randint(25, 75),
                )
            )
    return speakers


def split_speakers(
    speakers: list[Speaker], fractions: tuple[float, float, float], seed: int
) -> tuple[list[Speaker], list[Speaker], list[Speaker]]:
    """Disjoint train/dev/test speaker lists (at least one each), shuffled by ``seed``."""
    if len(speakers) < 3:
        raise ValueError(f"{len(speakers)} speakers cannot fill three disjoint splits")
    order = list(speakers)
    random.Random(seed).shuffle(order)
    n_dev = max(1, round(fractions[1] * len(order)))
    n_test = max(1, round(fractions[2] * len(order)))
    return order[n_dev + n_test :], order[:n_dev], order[n_dev : n_dev + n_test]
