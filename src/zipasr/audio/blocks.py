"""Reading long recordings in blocks: 16 kHz mono samples without loading the whole file.

:func:`read_audio_blocks` reads a file with soundfile's block reader, mixes the channels down and
resamples each block, so memory is bounded by the block size, not by the file's length. The
resampler is the same windowed sinc as :func:`zipasr.audio.resample`, applied to each block with
enough of its neighbours on both sides that the joined output equals resampling the whole file
at once (to float rounding; ``tests/longform/test_blocks.py``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from zipasr.audio.io import (
    OUT_OF_RANGE_PEAK,
    AudioError,
    _resampler,
    check_audio_file,
    check_samples,
)
from zipasr.frontend import SAMPLE_RATE
from zipasr.optional import require


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says: ``frames`` samples per channel at ``sample_rate`` Hz."""

    frames: int
    sample_rate: int
    channels: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """The header of a sound file (raises :class:`AudioError` if it cannot be read or is empty)."""
    soundfile = require("soundfile", "reading audio files")
    file = check_audio_file(path)
    try:
        info = soundfile.info(str(file))
    except Exception as e:  # LibsndfileError, RuntimeError or OSError
        raise AudioError(f"{file}: cannot read it as audio ({e})") from e
    if info.frames <= 0:
        raise AudioError(f"{file} holds 0 samples")
    return AudioInfo(int(info.frames), int(info.samplerate), int(info.channels))


def read_audio_blocks(path: str | os.PathLike[str], block_s: float = 2.0) -> Iterator[Tensor]:
    """Yields the file as consecutive (S_i,) float32 blocks of 16 kHz mono audio.

    Each block holds about ``block_s`` seconds (the last one less). Joined, the blocks equal
    ``to_mono_16k(*read_audio(path))`` up to float rounding. Raises :class:`AudioError` for an
    unreadable or empty file, or for samples that are NaN or infinite.

    Args:
        path: any file soundfile reads (WAV, FLAC, OGG, ...), any sample rate and channels.
        block_s: seconds of input read at a time.
    """
    if block_s <= 0:
        raise ValueError(f"block_s={block_s} must be positive")
    mono = _Mono(path)
    soundfile = require("soundfile", "reading audio files")
    info = audio_info(path)
    rate = info.sample_rate
    try:
        with soundfile.SoundFile(str(path)) as f:
            if rate == SAMPLE_RATE:
                block = max(1, int(block_s * rate))
                while True:
                    data = mono(f.read(block, dtype="float32", always_2d=True))
                    if data.numel() == 0:
                        return
                    yield data
            else:
                yield from _resampled_blocks(f, mono, rate, block_s)
    except AudioError:
        raise
    except Exception as e:  # a file that breaks part-way through
        raise AudioError(f"{path}: cannot read it as audio ({e})") from e


class _Mono:
    """(S, C) blocks of one file -> (S,) float32, checked as :func:`zipasr.audio.check_samples`
    checks them; out-of-range samples are warned about once per file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.where, self.warn = str(path), True

    def __call__(self, data: np.ndarray) -> Tensor:
        checked = check_samples(data.T, where=self.where, warn=self.warn)
        if self.warn and checked.size and np.abs(checked).max() > OUT_OF_RANGE_PEAK:
            self.warn = False
        x = torch.from_numpy(np.ascontiguousarray(checked))
        return x[0] if x.shape[0] == 1 else x.mean(dim=0)


def _resampled_blocks(f, mono: _Mono, rate: int, block_s: float) -> Iterator[Tensor]:
    """Blocks of ``f`` resampled to 16 kHz, each computed from its input plus ``context``
    samples of each neighbour, so that no block edge is filtered against zeros.

    The resampler maps input ``n * step_in`` to output ``n * step_out`` exactly (steps: the
    rates divided by their gcd), so blocks that start on multiples of ``step_in`` line up.
    """
    resampler = _resampler(rate, SAMPLE_RATE)
    gcd = math.gcd(rate, SAMPLE_RATE)
    step_in, step_out = rate // gcd, SAMPLE_RATE // gcd
    width = int(getattr(resampler, "width", 64))
    context = step_in * math.ceil((width + step_in + 1) / step_in)  # filter reach, in steps
    block = step_in * max(1, round(block_s * rate / step_in))
    history = torch.zeros(0)  # the `context` input samples before the current block
    pending = mono(f.read(block, dtype="float32", always_2d=True))
    done = 0  # output samples yielded so far
    total_out = math.ceil(SAMPLE_RATE * f.frames / rate)
    while pending.numel():
        ahead = mono(f.read(block, dtype="float32", always_2d=True))
        window = torch.cat((history, pending, ahead[:context]))
        out = resampler(window)
        skip = history.numel() // step_in * step_out  # outputs belonging to `history`
        keep = pending.numel() // step_in * step_out if ahead.numel() else total_out - done
        piece = out[skip : skip + keep]
        done += piece.numel()
        yield piece
        history = torch.cat((history, pending))[-context:]
        pending = ahead
