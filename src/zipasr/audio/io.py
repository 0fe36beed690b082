"""Audio in: any sample rate and channel count becomes 16 kHz mono float32.

Resampling uses lhotse's port of torchaudio's windowed-sinc resampler (pure torch), so nothing
here needs torchaudio; files are read with soundfile (WAV, FLAC, OGG). Both come with the
``data`` extra and are imported when first needed.
"""

from __future__ import annotations

import logging
import os
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

    Integer PCM is scaled and NaN/Inf samples are refused as by :func:`check_samples` (which
    also warns about out-of-range floats: call it on arrays of unknown origin). Channels are
    averaged. The first time a given (channels, rate) format is converted, an INFO
    line says so, so that silently converted corpora are visible in the logs.
    """
    device = waveform.device if isinstance(waveform, Tensor) else torch.device("cpu")
    x = torch.from_numpy(check_samples(waveform, warn=False)).to(device)  # files warn as read
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
        AudioError: the file is missing, a directory, empty, unreadable, holds no samples, or
            holds NaN or Inf samples; the message names the file.
    """
    soundfile = require("soundfile", "reading audio files")
    file = check_audio_file(path)
    try:
        data, rate = soundfile.read(str(file), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError or OSError
        raise AudioError(
            f"{file}: cannot read it as audio ({e}); zipasr reads WAV, FLAC, OGG and the other "
            "formats libsndfile knows"
        ) from e
    if data.shape[0] == 0:
        raise AudioError(f"{file} holds 0 samples")
    samples = check_samples(data.T, where=str(file))
    return torch.from_numpy(np.ascontiguousarray(samples)), int(rate)


def check_audio_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path, if it names a non-empty file; else AudioError saying what it is
    (soundfile's own words for these are "System error." and "Format not recognised.")."""
    file = Path(path)
    if not file.exists():
        raise AudioError(f"{file}: no such audio file")
    if file.is_dir():
        raise AudioError(f"{file} is a directory, not an audio file")
    if file.stat().st_size == 0:
        raise AudioError(f"{file} is empty (0 bytes)")
    return file


#: Peak magnitude beyond which float samples are reported as out of range: resampling and
#: lossy codecs overshoot 1.0 a little, integer PCM stored as floats is in the thousands.
OUT_OF_RANGE_PEAK = 2.0

#: Peak magnitude beyond which samples are refused: past 32-bit PCM's full scale, the fbank's
#: energies overflow float32 (1e20 gives infinite features).
MAX_PEAK = 2.0**32

#: Integer sample types zipasr scales to [-1, 1], by their full-scale value.
_PCM_SCALE = {np.dtype(np.int16): 2.0**15, np.dtype(np.int32): 2.0**31}


def check_samples(
    samples: np.ndarray | Tensor, where: str = "audio", *, warn: bool = True
) -> np.ndarray:
    """Validates raw samples where they enter and returns them as float32 in [-1, 1].

    - int16 and int32 PCM are scaled by their full scale (2**15, 2**31); other integer types
      (ambiguous) raise AudioError saying how to convert them.
    - NaN or Inf samples, or samples beyond :data:`MAX_PEAK`, raise AudioError (nothing
      useful can be recognised from them, and the front end would produce NaN or Inf).
    - Float samples that reach beyond :data:`OUT_OF_RANGE_PEAK` pass with a warning: such audio
      is usually integer PCM stored as floats and is recognised badly (``warn=False``: no
      warning, e.g. after a stream's first).

    >>> check_samples(np.array([16384, -32768], dtype=np.int16)).tolist()
    [0.5, -1.0]
    """
    if isinstance(samples, Tensor):
        tensor = samples.detach().cpu()
        if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
            tensor = tensor.float()  # bfloat16 and float16 have no NumPy form
        data = tensor.numpy()
    else:
        data = np.asarray(samples)
    if data.dtype in _PCM_SCALE:
        return (data.astype(np.float32) / _PCM_SCALE[data.dtype]).astype(np.float32)
    if data.dtype.kind in "iub":
        raise AudioError(
            f"{where}: samples of type {data.dtype} are ambiguous; pass float32 samples in "
            "[-1, 1] (or int16 / int32 PCM, which zipasr scales)"
        )
    if data.dtype.kind != "f":
        raise AudioError(f"{where}: samples of type {data.dtype} are not audio samples")
    data = data.astype(np.float32, copy=False)
    finite = np.isfinite(data)
    if not finite.all():
        bad = int(data.size - np.count_nonzero(finite))
        raise AudioError(f"{where}: {bad} of {data.size} samples are NaN or Inf")
    peak = float(np.abs(data).max()) if data.size else 0.0
    if peak > MAX_PEAK:
        raise AudioError(
            f"{where}: samples reach {peak:.4g}, beyond any audio format's range; these are not "
            "audio samples"
        )
    if warn and peak > OUT_OF_RANGE_PEAK:
        log.warning(
            "%s: samples reach %.4g, far outside [-1, 1]; if this is integer PCM stored as "
            "floats, divide it by 32768 (16-bit) first, or recognition will suffer",
            where,
            peak,
        )
    return data


class AudioError(ValueError, RuntimeError):
    """Audio that cannot be used: a file that cannot be decoded, or invalid samples. The data
    pipeline skips such utterances; the CLI reports them by name. (A ValueError; also a
    RuntimeError, as it was before input validation was added.)"""
