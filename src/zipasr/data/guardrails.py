"""Utterances the pipeline cannot train on are skipped, counted by reason, and reported.

Checks (cheapest first): the transcript is empty after normalisation; the clip gives fewer feature
frames than the encoder's front end needs; the transcript has more tokens than the encoder emits
frames (less a margin); the audio cannot be decoded (found when the manifest is read or when a
batch loads it). Nothing raises out of an epoch: every skip lands in a :class:`SkipReport`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum

from zipasr.frontend import MIN_FEATURE_FRAMES, encoder_frames

log = logging.getLogger(__name__)

#: Encoder frames kept free beyond one per token: a transducer needs T >= U to align, and the
#: margin keeps utterances at that edge (whose pruned-RNN-T ranges degenerate) out of training.
TOKEN_FRAME_MARGIN = 2


class SkipReason(str, Enum):
    UNREADABLE_AUDIO = "unreadable_audio"
    EMPTY_TEXT = "empty_text"
    TOO_SHORT = "too_short"
    TOO_MANY_TOKENS = "too_many_tokens"


@dataclass(frozen=True)
class Skip:
    """One skipped utterance: its id, the reason and a human-readable detail."""

    cut_id: str
    reason: SkipReason
    detail: str = ""


@dataclass
class SkipReport:
    """Running tally of skipped utterances, merged from manifest screening and from batches."""

    counts: Counter[SkipReason] = field(default_factory=Counter)
    #: The first ``max_examples`` skips, for the log.
    examples: list[Skip] = field(default_factory=list)
    max_examples: int = 20

    def add(self, skip: Skip) -> None:
        self.counts[skip.reason] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(skip)
        log.debug("skipping %s: %s (%s)", skip.cut_id, skip.reason.value, skip.detail)

    def extend(self, skips: list[Skip]) -> None:
        for s in skips:
            self.add(s)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line per reason with its count, then the first examples."""
        if not self.total:
            return "skipped 0 utterances"
        lines = [f"skipped {self.total} utterances:"]
        lines += [f"  {r.value}: {n}" for r, n in sorted(self.counts.items(), key=lambda x: x[0])]
        lines += [f"  e.g. {s.cut_id}: {s.reason.value} ({s.detail})" for s in self.examples]
        return "\n".join(lines)


def check_utterance(cut_id: str, feature_frames: int, text: str, num_tokens: int) -> Skip | None:
    """The reason to skip one utterance, or None if it is trainable.

    Args:
        feature_frames: T, at 100 Hz.
        text: the normalised transcript.
        num_tokens: U, the length of its token ids.
    """
    if not text:
        return Skip(cut_id, SkipReason.EMPTY_TEXT, "transcript is empty after normalisation")
    if feature_frames < MIN_FEATURE_FRAMES:
        return Skip(
            cut_id,
            SkipReason.TOO_SHORT,
            f"{feature_frames} feature frames < the front end's minimum {MIN_FEATURE_FRAMES}",
        )
    output_frames = encoder_frames(feature_frames)
    if output_frames - TOKEN_FRAME_MARGIN < num_tokens:
        return Skip(
            cut_id,
            SkipReason.TOO_MANY_TOKENS,
            f"{num_tokens} tokens > {output_frames} encoder frames - {TOKEN_FRAME_MARGIN}",
        )
    return None
