"""Subtitles from segments: SubRip (.srt) and WebVTT (.vtt).

Each segment with text becomes one cue or, when its text is longer than ``max_chars``, several,
split between words at the words' timestamps. Cues are numbered from 1, in time order, never
overlap, and each starts before it ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zipasr.longform.transcript import Segment

#: Longest cue text: two lines of 42 characters, the usual subtitle limit.
MAX_CUE_CHARS = 84


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def cues(segments: Sequence[Segment], max_chars: int = MAX_CUE_CHARS) -> list[Cue]:
    """The cues for ``segments`` (in time order, not overlapping)."""
    out: list[Cue] = []
    for seg in segments:
        if not seg.text:
            continue
        groups: list[list] = [[]]
        for word in seg.words:
            line = " ".join(w.word for w in [*groups[-1], word])
            if groups[-1] and len(line) > max_chars:
                groups.append([])
            groups[-1].append(word)
        if len(groups) == 1:
            out.append(Cue(seg.start, seg.end, seg.text))
            continue
        starts = [seg.start] + [g[0].start for g in groups[1:]]
        ends = starts[1:] + [seg.end]
        for group, start, end in zip(groups, starts, ends):
            text = " ".join(w.word for w in group)
            if out and out[-1].end <= out[-1].start:  # an empty cue joins the next one
                empty = out.pop()
                start, text = empty.start, f"{empty.text} {text}"
            out.append(Cue(start, end, text))
    # Guarantee order even for degenerate timestamps.
    fixed: list[Cue] = []
    for cue in out:
        start = max(cue.start, fixed[-1].end if fixed else 0.0)
        end = max(cue.end, start + 0.001)
        fixed.append(Cue(start, end, cue.text))
    return fixed


def _clock(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(segments: Sequence[Segment]) -> str:
    """SubRip text: numbered cues ``HH:MM:SS,mmm --> HH:MM:SS,mmm``."""
    blocks = [
        f"{i}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{c.text}\n"
        for i, c in enumerate(cues(segments), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(segments: Sequence[Segment]) -> str:
    """WebVTT text: the ``WEBVTT`` header, then cues ``HH:MM:SS.mmm --> HH:MM:SS.mmm``."""
    blocks = [
        f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}\n{c.text}\n" for c in cues(segments)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)
