"""Cutting a long recording into segments at its pauses, as the audio arrives.

:class:`Segmenter` takes 16 kHz samples in blocks of any size and yields
:class:`AudioSegment` s as soon as each one is complete, so a recording of any length is held in
memory one segment at a time. The rules, on 10 ms VAD frames:

1. A segment opens at the first speech frame (less ``pad_s`` of lead-in) and closes once a
   pause of ``min_silence_s`` follows its last speech frame (plus ``pad_s`` of tail). Silence
   between segments is dropped.
2. A segment that reaches ``max_segment_s`` is cut at the longest pause of at least
   ``min_split_pause_s`` in its second half, if there is one.
3. Otherwise (speech with no pause at all) it becomes a window, and the next window starts
   ``overlap_s`` before its end; the windows' tokens are merged by
   :func:`zipasr.longform.merge.merge_overlap`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from zipasr.frontend import SAMPLE_RATE, SAMPLES_PER_FRAME
from zipasr.longform.vad import VAD_FRAME_RATE, EnergyVad, Vad


@dataclass(frozen=True)
class SegmenterOptions:
    """How a long recording is cut (seconds).

    Attributes:
        max_segment_s: no segment is longer; the encoder's memory grows with its square.
        min_silence_s: a pause at least this long ends a segment.
        pad_s: audio kept before the first and after the last speech frame of a segment
            (never more than half of the pause that ends it, nor overlapping the previous
            segment).
        min_split_pause_s: the shortest pause a too-long segment may be cut at.
        overlap_s: audio shared by consecutive windows of speech with no pause.
    """

    max_segment_s: float = 20.0
    min_silence_s: float = 0.3
    pad_s: float = 0.1
    min_split_pause_s: float = 0.08
    overlap_s: float = 3.0

    def __post_init__(self) -> None:
        if self.max_segment_s < 2.0:
            raise ValueError(f"max_segment_s={self.max_segment_s} must be at least 2 s")
        if not 0 < self.overlap_s <= self.max_segment_s / 2:
            raise ValueError(
                f"overlap_s={self.overlap_s} must be > 0 and at most max_segment_s / 2"
            )
        if self.min_silence_s <= 0 or self.pad_s < 0 or self.min_split_pause_s <= 0:
            raise ValueError("min_silence_s and min_split_pause_s must be > 0, pad_s >= 0")


@dataclass(frozen=True)
class Span:
    """Where a segment lies in the recording (seconds), without its samples."""

    index: int
    start_s: float
    end_s: float
    overlaps_previous: bool = False


@dataclass
class AudioSegment:
    """A piece of the recording to decode.

    Attributes:
        index: 0, 1, ... in time order.
        start: first sample, counted from the start of the recording (16 kHz).
        samples: (S,) float32 16 kHz mono.
        overlaps_previous: a window that starts inside the previous one (rule 3).
    """

    index: int
    start: int
    samples: Tensor
    overlaps_previous: bool = False

    @property
    def start_s(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def end_s(self) -> float:
        return (self.start + self.samples.shape[0]) / SAMPLE_RATE

    @property
    def span(self) -> Span:
        return Span(self.index, self.start_s, self.end_s, self.overlaps_previous)


class Segmenter:
    """Samples in (:meth:`accept`, then :meth:`finish`), segments out, in time order."""

    def __init__(self, options: SegmenterOptions | None = None, vad: Vad | None = None) -> None:
        self.options = options or SegmenterOptions()
        self.vad = vad if vad is not None else EnergyVad()
        o, rate = self.options, VAD_FRAME_RATE
        self.max_frames = int(o.max_segment_s * rate)
        self.min_silence = max(1, int(o.min_silence_s * rate))
        self.pad = int(o.pad_s * rate)
        self.min_split = max(1, int(o.min_split_pause_s * rate))
        self.overlap = int(o.overlap_s * rate)
        # Samples from `self.base` (a sample index) on; older ones are no longer needed.
        self.buffer = np.zeros(0, np.float32)
        self.base = 0
        self.speech = np.zeros(0, bool)  # VAD decisions from frame base // 160 on
        self.frame = 0  # frames decided so far
        self.open: int | None = None  # first frame of the open segment
        self.last_speech = -1
        self.last_end = 0  # frame where the last emitted segment ended
        self.silence_run = 0
        self.overlapping = False  # the open segment is a window overlapping the previous one
        self.count = 0
        self.samples_in = 0

    def accept(self, samples: Tensor | np.ndarray) -> Iterator[AudioSegment]:
        """Takes (S,) 16 kHz samples; yields the segments they complete."""
        x = samples.numpy() if isinstance(samples, Tensor) else np.asarray(samples, np.float32)
        self.buffer = np.concatenate((self.buffer, x.astype(np.float32, copy=False)))
        self.samples_in += x.shape[0]
        decisions = self.vad.accept(x)
        self.speech = np.concatenate((self.speech, decisions))
        for is_speech in decisions.tolist():
            yield from self._step(bool(is_speech))
            self.frame += 1
        self._trim()

    def finish(self) -> Iterator[AudioSegment]:
        """The end of the recording: yields the open segment, if any."""
        decisions = self.vad.flush()
        self.speech = np.concatenate((self.speech, decisions))
        for is_speech in decisions.tolist():
            yield from self._step(bool(is_speech))
            self.frame += 1
        if self.open is not None and self.last_speech >= self.open:
            end_frame = self.last_speech + 1 + self.pad
            end = self.samples_in if end_frame >= self.frame else end_frame * SAMPLES_PER_FRAME
            yield self._emit(self.open * SAMPLES_PER_FRAME, end)
        self.open = None

    def _step(self, is_speech: bool) -> Iterator[AudioSegment]:
        f = self.frame
        if is_speech:
            if self.open is None:
                self.open = max(f - self.pad, self.last_end)
            self.last_speech, self.silence_run = f, 0
        else:
            self.silence_run += 1
            if self.open is not None and self.silence_run >= self.min_silence:
                end = self.last_speech + 1 + min(self.pad, self.silence_run // 2)
                if end > self.open:  # (not so after a cut at a pause that ended the speech)
                    yield self._emit_frames(self.open, end)
                self.open, self.overlapping = None, False
                return
        if self.open is not None and f + 1 - self.open >= self.max_frames:
            yield from self._split(f + 1)

    def _split(self, end: int) -> Iterator[AudioSegment]:
        """The open segment [open, end) is as long as allowed: cut it at a pause or window it."""
        assert self.open is not None
        start = self.open
        cut = self._best_pause(start + (end - start) // 2, end)
        if cut is not None:
            yield self._emit_frames(start, cut)
            self.overlapping = False
            self.open = cut
            return
        yield self._emit_frames(start, end)
        self.open, self.overlapping = end - self.overlap, True

    def _best_pause(self, lo: int, hi: int) -> int | None:
        """The middle frame of the longest run of non-speech frames within [lo, hi), if it is at
        least ``min_split`` frames long."""
        first = self.base // SAMPLES_PER_FRAME  # the frame self.speech[0] decides
        speech = self.speech[lo - first : hi - first]
        best, best_len, run_start = None, 0, None
        for i, s in enumerate([*speech.tolist(), True]):
            if not s and run_start is None:
                run_start = i
            elif s and run_start is not None:
                if i - run_start > best_len:
                    best, best_len = lo + (run_start + i) // 2, i - run_start
                run_start = None
        return best if best_len >= self.min_split else None

    def _emit_frames(self, start: int, end: int) -> AudioSegment:
        return self._emit(start * SAMPLES_PER_FRAME, end * SAMPLES_PER_FRAME)

    def _emit(self, start: int, end: int) -> AudioSegment:
        piece = self.buffer[start - self.base : end - self.base].copy()
        segment = AudioSegment(self.count, start, torch.from_numpy(piece), self.overlapping)
        self.count += 1
        self.last_end = end // SAMPLES_PER_FRAME
        return segment

    def _trim(self) -> None:
        """Drops samples that no segment can need any more."""
        keep = self.open if self.open is not None else max(self.frame - self.pad, self.last_end)
        keep_sample = keep * SAMPLES_PER_FRAME
        if keep_sample > self.base:
            self.buffer = self.buffer[keep_sample - self.base :]
            self.speech = self.speech[keep - self.base // SAMPLES_PER_FRAME :]
            self.base = keep_sample


def segment_audio(
    blocks: Iterator[Tensor], options: SegmenterOptions | None = None, vad: Vad | None = None
) -> Iterator[AudioSegment]:
    """The segments of a recording given as blocks of 16 kHz samples (see :class:`Segmenter`)."""
    segmenter = Segmenter(options, vad)
    for block in blocks:
        yield from segmenter.accept(block)
    yield from segmenter.finish()
