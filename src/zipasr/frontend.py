"""Front-end facts: sample rate, feature geometry and the frame arithmetic, in one place.

Every layer that turns audio into features, features into encoder frames, or frames back into
seconds reads its numbers from here (the encoder, the data pipeline, streaming, decoding and
export). This module imports nothing from zipasr, so any of them may use it.

The arithmetic takes plain ints or integer tensors alike (``//`` and ``+`` work on both).
"""

from __future__ import annotations

from typing import TypeVar

from torch import Tensor

#: The sample rate the model's front end expects, in Hz.
SAMPLE_RATE = 16_000
#: Mel bins of the fbank features.
NUM_MEL_BINS = 80
#: Feature frames per second (10 ms shift).
FEATURE_FRAME_RATE = 100
#: Samples per feature frame shift at 16 kHz.
SAMPLES_PER_FRAME = SAMPLE_RATE // FEATURE_FRAME_RATE
#: The value fbank batches are padded with: log(1e-10), as lhotse and the recipe pad them.
FBANK_PAD_VALUE = -23.025850929940457

#: Feature frames (100 Hz) the front end needs to emit one 50 Hz frame.
MIN_FEATURE_FRAMES = 9
#: The final downsampling of the encoder output (50 Hz -> 25 Hz); fixed in the reference.
OUTPUT_DOWNSAMPLING = 2
#: Seconds between encoder output frames (25 Hz): 4 feature frames of 10 ms.
OUTPUT_FRAME_SHIFT_S = 0.04
#: Feature frames shared by consecutive streaming windows: 7 for the front end's convolutions,
#: 2 * 3 for its ConvNeXt's look-ahead.
STREAMING_OVERLAP = 13

_Frames = TypeVar("_Frames", int, Tensor)


def embedded_frames(feature_frames: _Frames) -> _Frames:
    """50 Hz frames the front end emits for ``feature_frames`` 100 Hz frames: (T - 7) // 2."""
    return (feature_frames - 7) // 2


def encoder_frames(feature_frames: _Frames) -> _Frames:
    """Encoder output frames (25 Hz) for ``feature_frames`` input frames (100 Hz):
    ((T - 7) // 2 + 1) // 2."""
    return (embedded_frames(feature_frames) + 1) // OUTPUT_DOWNSAMPLING


def chunk_input_frames(chunk_frames: int) -> int:
    """Feature frames (100 Hz) one streaming step takes for ``chunk_frames`` 50 Hz frames:
    2 * chunk + 13. Consecutive windows advance by 2 * chunk frames."""
    return 2 * chunk_frames + STREAMING_OVERLAP
