"""Voice-activity detection: which 10 ms frames of a recording hold speech.

:class:`EnergyVad` needs no model: a frame is speech when its energy is well above the recent
noise floor. It adapts to the recording's level (the threshold follows percentiles of the last
``history_s`` seconds), which is enough to find the pauses between sentences in clean or mildly
noisy speech; it cannot tell speech from music or a crowd. Any object with the :class:`Vad`
method can replace it.

A VAD takes 16 kHz mono float32 samples in pieces of any size and return one decision per complete
10 ms frame (160 samples), keeping the remainder for the next call.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol

import numpy as np

from zipasr.frontend import SAMPLE_RATE, SAMPLES_PER_FRAME

#: Frames per second of every VAD's decisions (10 ms, the feature frame shift).
VAD_FRAME_RATE = SAMPLE_RATE // SAMPLES_PER_FRAME


class Vad(Protocol):
    """A voice-activity detector: samples in, one speech/non-speech decision per 10 ms frame."""

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """(S,) 16 kHz float samples -> (F,) bool for the next F frames (F may lag behind the
        frames the samples complete, for a detector that looks ahead)."""
        ...

    def flush(self) -> np.ndarray:
        """The end of the audio: the decisions for the frames not decided yet."""
        ...


class EnergyVad:
    """Speech frames are those whose energy exceeds an adaptive threshold.

    Over the last ``history_s`` seconds (refreshed every ``refresh_s``), ``floor`` and ``loud``
    are the 10th and 95th percentiles of the frame energies (dB). The
    threshold is ``floor + max(min_margin_db, fraction * (loud - floor))``, but at most
    ``loud - min_margin_db`` (so that a recording with no quiet stretch at all is all speech)
    and at least ``absolute_floor_db``. The first ``warmup_s`` seconds are judged together,
    so that a recording that starts with a pause does not take it for speech.
    """

    def __init__(
        self,
        history_s: float = 30.0,
        refresh_s: float = 1.0,
        fraction: float = 0.3,
        min_margin_db: float = 8.0,
        absolute_floor_db: float = -70.0,
        warmup_s: float = 5.0,
    ) -> None:
        self.fraction = fraction
        self.min_margin_db = min_margin_db
        self.absolute_floor_db = absolute_floor_db
        self.history: deque[float] = deque(maxlen=max(1, int(history_s * VAD_FRAME_RATE)))
        self.refresh = max(1, int(refresh_s * VAD_FRAME_RATE))
        self._rest = np.zeros(0, np.float32)
        self._pending = np.zeros(0)  # energies of frames not decided yet
        self.warmup = max(self.refresh, int(warmup_s * VAD_FRAME_RATE))
        self._warm = False

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """Decides frames in groups of ``refresh_s`` (so up to that much later than they
        arrive), each group against a history that includes it; the first ``warmup_s`` are
        decided together. The decisions do not depend on the sizes of the pieces."""
        x = np.concatenate((self._rest, np.asarray(samples, np.float32)))
        n = x.shape[0] // SAMPLES_PER_FRAME
        self._rest = x[n * SAMPLES_PER_FRAME :]
        frames = x[: n * SAMPLES_PER_FRAME].reshape(n, SAMPLES_PER_FRAME)  # a view: no copy
        power = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / SAMPLES_PER_FRAME
        energy = 10 * np.log10(power + 1e-10)
        self._pending = np.concatenate((self._pending, energy))
        if not self._warm and len(self._pending) < self.warmup:
            return np.zeros(0, bool)
        ready = len(self._pending) // self.refresh * self.refresh
        return self._decide(ready)

    def flush(self) -> np.ndarray:
        return self._decide(len(self._pending))

    def _decide(self, count: int) -> np.ndarray:
        if not self._warm:  # the first warmup_s are judged together, against themselves
            self._warm = True
            self.history.extend(self._pending[:count].tolist())
            speech = self._pending[:count] > self.threshold()
            self._pending = self._pending[count:]
            return speech
        speech = np.zeros(count, bool)
        for start in range(0, count, self.refresh):
            piece = self._pending[start : min(start + self.refresh, count)]
            self.history.extend(piece.tolist())
            speech[start : start + len(piece)] = piece > self.threshold()
        self._pending = self._pending[count:]
        return speech

    def threshold(self) -> float:
        """The current threshold in dB (relative to full scale)."""
        if not self.history:
            return self.absolute_floor_db
        floor, loud = np.percentile(np.fromiter(self.history, float), [10, 95])
        threshold = floor + max(self.min_margin_db, self.fraction * (loud - floor))
        return max(min(float(threshold), float(loud) - self.min_margin_db), self.absolute_floor_db)
