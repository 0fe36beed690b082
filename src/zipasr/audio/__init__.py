"""Audio in, features out: reading and resampling audio, and the fbank front end.

Importing this package needs only the core install; reading files, resampling and computing
features need the ``data`` extra (``pip install "zipasr[data]"``), and say so when it is missing.
"""

from zipasr.audio.blocks import AudioInfo, audio_info, read_audio_blocks
from zipasr.audio.fbank import (
    FbankOptions,
    fbank,
    frames_for_duration,
    num_frames,
    online_fbank,
    pad_features,
)
from zipasr.audio.io import AudioError, check_samples, read_audio, resample, to_mono_16k

__all__ = [
    "AudioError",
    "AudioInfo",
    "audio_info",
    "read_audio_blocks",
    "check_samples",
    "FbankOptions",
    "fbank",
    "frames_for_duration",
    "num_frames",
    "online_fbank",
    "pad_features",
    "read_audio",
    "resample",
    "to_mono_16k",
]
