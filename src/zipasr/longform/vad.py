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
        """(S,) 16 kHz float samples -> (F,) bool for the frames completed by them."""
        ...


class EnergyVad:
    """Speech frames are those whose energy exceeds an adaptive threshold.

    The threshold is ``floor + max(min_margin_db, fraction * (loud - floor))``, where ``floor``
    and ``loud`` are the 10th and 95th percentiles of frame energies (dB) over the last
    ``history_s`` seconds, refreshed every ``refresh_s`` seconds, and never below
    ``absolute_floor_db``. A recording with no quiet frames at all therefore keeps its
    quietest tenth as "pauses"; segments are only cut at pauses long enough
    (see :class:`~zipasr.longform.segmenter.SegmenterOptions`).
    """

    def __init__(
        self,
        history_s: float = 30.0,
        refresh_s: float = 1.0,
        fraction: float = 0.3,
        min_margin_db: float = 8.0,
        absolute_floor_db: float = -70.0,
    ) -> None:
        self.fraction = fraction
        self.min_margin_db = min_margin_db
        self.absolute_floor_db = absolute_floor_db
        self.history: deque[float] = deque(maxlen=max(1, int(history_s * VAD_FRAME_RATE)))
        self.refresh = max(1, int(refresh_s * VAD_FRAME_RATE))
        self._rest = np.zeros(0, np.float32)

    def accept(self, samples: np.ndarray) -> np.ndarray:
        x = np.concatenate((self._rest, np.asarray(samples, np.float32)))
        n = x.shape[0] // SAMPLES_PER_FRAME
        self._rest = x[n * SAMPLES_PER_FRAME :]
        frames = x[: n * SAMPLES_PER_FRAME].reshape(n, SAMPLES_PER_FRAME).astype(np.float64)
        energy = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
        speech = np.zeros(n, bool)
        # Thresholds are refreshed every `refresh` frames from the history, which includes the
        # frames being classified (so the first second of a file is judged against itself).
        for start in range(0, n, self.refresh):
            piece = energy[start : start + self.refresh]
            self.history.extend(piece.tolist())
            speech[start : start + self.refresh] = piece > self.threshold()
        return speech

    def threshold(self) -> float:
        """The current threshold in dB (relative to full scale)."""
        if not self.history:
            return self.absolute_floor_db
        floor, loud = np.percentile(np.fromiter(self.history, float), [10, 95])
        margin = max(self.min_margin_db, self.fraction * (loud - floor))
        return max(float(floor + margin), self.absolute_floor_db)
