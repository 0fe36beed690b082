"""Audio in: any sample rate and channel count becomes 16 kHz mono float32.

Resampling uses lhotse's port of torchaudio's windowed-sinc resampler (pure torch), so nothing
here needs torchaudio; files are read with soundfile (WAV, FLAC, OGG). Both come with the
``data`` extra and are imported when first needed.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from zipasr.frontend import SAMPLE_RATE
from zipasr.optional import require

log = logging.getLogger(__name__)
_NOTED: set[tuple[int, int]] = set()


@lru_cache(maxsize=128)
def _resampler(source_rate: int, target_rate: int) -> torch.nn.Module:
    resampling = require("lhotse.augmentation.resample", "resampling audio")
    return resampling.Resample(source_rate, target_rate)


def resample(samples: Tensor, source_rate: int, target_rate: int) -> Tensor:
    """Resamples (..., S) samples from ``source_rate`` to ``target_rate`` Hz (windowed sinc)."""
    if source_rate <= 0 or target_rate <= 0:
        raise ValueError(
            f"sample rates must be positive, got source_rate={source_rate}, "
            f"target_rate={target_rate}"
        )
    if source_rate == target_rate:
        return samples
    return _resampler(source_rate, target_rate)(samples)


def to_mono_16k(waveform: Tensor | np.ndarray, sample_rate: int) -> Tensor:
    """(S,) or (C, S) samples at ``sample_rate`` Hz -> (S',) float32 mono at 16 kHz.

    Channels are averaged. The first time a given (channels, rate) format is converted, an INFO
    line says so, so that silently converted corpora are visible in the logs.
    """
    x = torch.as_tensor(waveform, dtype=torch.float32)
    if x.dim() not in (1, 2):
        raise ValueError(
            f"waveform has shape {tuple(x.shape)}; pass (num_samples,) or (channels, num_samples)"
        )
    channels = 1 if x.dim() == 1 else x.shape[0]
    if (channels, sample_rate) != (1, SAMPLE_RATE) and (channels, sample_rate) not in _NOTED:
        _NOTED.add((channels, sample_rate))
        log.info(
            "audio with %d channel(s) at %d Hz is mixed down to mono and resampled to %d Hz",
            channels,
            sample_rate,
            SAMPLE_RATE,
        )
    if x.dim() == 2:
        x = x.mean(dim=0)
    return resample(x, sample_rate, SAMPLE_RATE)


def read_audio(path: str | Path) -> tuple[Tensor, int]:
    """Reads a sound file as (C, S) float32 samples in [-1, 1] and its sample rate in Hz.

    Raises:
        AudioError: the file is missing, unreadable, or holds no samples.
    """
    soundfile = require("soundfile", "reading audio files")
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError or OSError
        raise AudioError(f"cannot read audio file {path}: {e}") from e
    if data.shape[0] == 0:
        raise AudioError(f"audio file {path} holds 0 samples")
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(rate)


class AudioError(RuntimeError):
    """An audio file that cannot be decoded; the data pipeline skips such utterances."""
