"""What recognising a file returns: its segments, with words and absolute timestamps."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from zipasr.decoding.hypothesis import WORD_BOUNDARY, Hypothesis, tokens_to_text
from zipasr.frontend import OUTPUT_FRAME_SHIFT_S
from zipasr.text import is_cjk


@dataclass
class Word:
    """A word and when it was spoken (seconds from the start of the recording).

    ``start`` is the emission time of its first token, ``end`` that of its last plus one encoder
    frame (40 ms), never past the next word's start. Transducers emit a token close to (often a
    little after) the sound it stands for. ``confidence``, in (0, 1], is the geometric mean of
    its tokens' probabilities where the search emitted them (None when the search did not
    record them).
    """

    word: str
    start: float
    end: float
    confidence: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"word": self.word, "start": round(self.start, 3)}
        out["end"] = round(self.end, 3)
        if self.confidence is not None:
            out["confidence"] = round(self.confidence, 4)
        return out


@dataclass
class Segment:
    """One stretch of speech of a recording (seconds from its start).

    Attributes:
        start, end: the audio the segment covers (speech plus a little padding).
        text: its words.
        tokens: token ids; ``timestamps``: their absolute emission times.
        words: the words with their times (when the model has a token table).
    """

    start: float
    end: float
    text: str = ""
    tokens: list[int] = field(default_factory=list)
    timestamps: list[float] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "text": self.text,
            "words": [w.to_json() for w in self.words],
        }


@dataclass
class Transcript(Hypothesis):
    """The recognition of one file: a :class:`Hypothesis` for the whole file (tokens, text,
    timestamps from its start) and its segments.

    When the file could not be recognised, ``error`` says why (unreadable, too short, ...), and
    tokens and segments are empty.

    Attributes:
        path: the file.
        duration_s: its length.
        segments: the stretches of speech it was cut into, in order (one for a short file).
        times: each token's emission time in seconds (``timestamps_s``, unrounded).
        error: why the file failed, or None.
    """

    path: str = ""
    duration_s: float = 0.0
    segments: list[Segment] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def timestamps_s(self) -> list[float]:
        return [round(t, 4) for t in self.times]

    def to_json(self) -> dict[str, Any]:
        """The record ``zipasr transcribe --json`` prints for this file."""
        return {
            "path": self.path,
            "text": self.text,
            "tokens": self.tokens,
            "timestamps": self.timestamps_s,
            "segments": [s.to_json() for s in self.segments],
        }

    @classmethod
    def failed(cls, path: str, error: str) -> Transcript:
        return cls(path=path, error=error)

    @classmethod
    def from_segments(
        cls, path: str, duration_s: float, segments: list[Segment], table: list[str] | None
    ) -> Transcript:
        tokens = [t for s in segments for t in s.tokens]
        times = [t for s in segments for t in s.timestamps]
        return cls(
            tokens=tokens,
            frames=[round(t / OUTPUT_FRAME_SHIFT_S) for t in times],
            text=None if table is None else " ".join(s.text for s in segments if s.text),
            path=path,
            duration_s=duration_s,
            segments=segments,
            times=times,
        )


def make_segment(
    start: float,
    end: float,
    tokens: list[int],
    times: list[float],
    table: list[str] | None,
    log_probs: list[float] | None = None,
) -> Segment:
    """A :class:`Segment` with its text and words (when there is a token table)."""
    if table is None:
        return Segment(start, end, "", tokens, times, [])
    words = words_of(tokens, times, table, log_probs)
    return Segment(start, end, tokens_to_text(tokens, table), tokens, times, words)


def words_of(
    tokens: list[int],
    times: list[float],
    table: list[str],
    log_probs: list[float] | None = None,
) -> list[Word]:
    """Groups tokens into words as the tokenizer marks them: a word starts at a piece with
    ``▁``; a CJK character is a word of its own. With the tokens' ``log_probs``, each word's
    confidence is exp(mean log-probability of its tokens), in (0, 1]."""
    groups: list[tuple[str, float, float, list[float]]] = []
    alone = False  # the last group is a CJK character: the next piece starts a word
    for k, (token, time) in enumerate(zip(tokens, times)):
        piece = table[token]
        text = piece.lstrip(WORD_BOUNDARY)
        cjk = len(text) == 1 and is_cjk(text)
        lp = [log_probs[k]] if log_probs is not None else []
        if piece.startswith(WORD_BOUNDARY) or not groups or cjk or alone:
            groups.append((text, time, time, lp))
        else:
            text0, start, _, lps = groups[-1]
            groups[-1] = (text0 + piece, start, time, lps + lp)
        alone = cjk
    words = []
    for k, (text, start, last, lps) in enumerate(groups):
        end = last + OUTPUT_FRAME_SHIFT_S
        if k + 1 < len(groups):
            end = max(last, min(end, groups[k + 1][1]))
        confidence = None
        if lps:
            confidence = min(1.0, max(math.exp(sum(lps) / len(lps)), 1e-6))
        if text:
            words.append(Word(text, round(start, 3), round(end, 3), confidence))
    return words
