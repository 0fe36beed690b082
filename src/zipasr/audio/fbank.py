"""80-dim Kaldi fbank, computed exactly as sherpa-onnx's front end (kaldi-native-fbank) does.

The options are the recipe's (spec section 1.1): 16 kHz, 25 ms windows every 10 ms, povey window,
pre-emphasis 0.97, DC removal, 80 mel bins from 20 Hz to Nyquist - 400 Hz, ``snip_edges=False``,
dither 0, log floor at float32 epsilon, no CMVN. We compute them with lhotse's ``Fbank`` (a torch
implementation, batchable and GPU-capable); ``tests/data/test_features.py`` holds it to
kaldi-native-fbank's output. Streams compute the same features incrementally with
kaldi-native-fbank itself (:func:`online_fbank`). Input samples are floats in [-1, 1], as
sherpa-onnx passes them. Both libraries come with the ``data`` extra.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from zipasr.audio.io import to_mono_16k
from zipasr.encoder import check_lengths
from zipasr.frontend import FBANK_PAD_VALUE, NUM_MEL_BINS, SAMPLE_RATE, SAMPLES_PER_FRAME
from zipasr.optional import require


@dataclass(frozen=True)
class FbankOptions:
    """The front end's options. The defaults are the recipe's and sherpa-onnx's; change them only
    for experiments, since a model must be decoded with the features it was trained on."""

    num_mel_bins: int = NUM_MEL_BINS
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    low_freq_hz: float = 20.0
    #: Negative values are an offset from Nyquist (Kaldi's convention): -400 means 7600 Hz.
    high_freq_hz: float = -400.0
    snip_edges: bool = False
    dither: float = 0.0

    def lhotse_extractor(self):  # -> lhotse.Fbank (lhotse is an optional dependency)
        """The equivalent lhotse feature extractor, for precomputing features to storage."""
        lhotse = require("lhotse", "computing fbank features")
        return lhotse.Fbank(
            lhotse.FbankConfig(
                sampling_rate=SAMPLE_RATE,
                frame_length=self.frame_length_ms / 1000,
                frame_shift=self.frame_shift_ms / 1000,
                num_filters=self.num_mel_bins,
                low_freq=self.low_freq_hz,
                high_freq=self.high_freq_hz,
                snip_edges=self.snip_edges,
                dither=self.dither,
            )
        )


_EXTRACTORS: dict[FbankOptions, object] = {}


def cached_extractor(options: FbankOptions):  # -> lhotse.Fbank
    """The (cached) offline extractor for ``options``."""
    if options not in _EXTRACTORS:
        _EXTRACTORS[options] = options.lhotse_extractor()
    return _EXTRACTORS[options]


def num_frames(num_samples: int) -> int:
    """Feature frames for ``num_samples`` samples at 16 kHz with ``snip_edges=False``: one frame
    per 10 ms shift, rounded to the nearest (Kaldi's rule)."""
    return (num_samples + SAMPLES_PER_FRAME // 2) // SAMPLES_PER_FRAME


def frames_for_duration(duration_s: float) -> int:
    """Feature frames for ``duration_s`` seconds of audio (see :func:`num_frames`)."""
    return num_frames(int(math.floor(duration_s * SAMPLE_RATE + 0.5)))


def fbank(
    waveform: Tensor | np.ndarray, sample_rate: int, options: FbankOptions | None = None
) -> Tensor:
    """Log-mel filterbank features of one utterance.

    Args:
        waveform: (S,) mono or (C, S) multi-channel samples in [-1, 1], any sample rate. Audio
            that is not 16 kHz mono is mixed down and resampled (logged once per format).
        sample_rate: of ``waveform``, in Hz.
        options: front-end options; the recipe's by default.

    Returns:
        (T, 80) float32 features, T = :func:`num_frames` of the 16 kHz sample count.
    """
    samples = to_mono_16k(waveform, sample_rate)
    options = options or FbankOptions()
    window = int(SAMPLE_RATE * options.frame_length_ms / 1000)
    if samples.numel() < window:
        raise ValueError(
            f"{samples.numel()} samples at 16 kHz ({1000 * samples.numel() / SAMPLE_RATE:g} ms) "
            f"is shorter than one analysis window ({options.frame_length_ms:g} ms, {window} "
            "samples)"
        )
    extractor = cached_extractor(options)
    feats = extractor.extract(samples, SAMPLE_RATE)  # type: ignore[attr-defined]
    return feats.to(torch.float32)


def online_fbank(options: FbankOptions | None = None):  # -> kaldi_native_fbank.OnlineFbank
    """kaldi-native-fbank's incremental extractor with these options (sherpa-onnx's front end)."""
    knf = require("kaldi_native_fbank", "streaming features")
    options = options or FbankOptions()
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = SAMPLE_RATE
    opts.frame_opts.frame_length_ms = options.frame_length_ms
    opts.frame_opts.frame_shift_ms = options.frame_shift_ms
    opts.frame_opts.snip_edges = options.snip_edges
    opts.frame_opts.dither = options.dither
    opts.mel_opts.num_bins = options.num_mel_bins
    opts.mel_opts.low_freq = options.low_freq_hz
    opts.mel_opts.high_freq = options.high_freq_hz
    return knf.OnlineFbank(opts)


def pad_features(features: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Pads B (T_b, F) feature matrices into a batch the encoder takes.

    Returns the (B, max T_b, F) features, padded with :data:`~zipasr.frontend.FBANK_PAD_VALUE`,
    and the (B,) int64 lengths. Raises ValueError for a matrix shorter than the front end's
    minimum (:func:`zipasr.encoder.check_lengths`): the one check of length values, made here on
    the CPU where batches are made, so that the encoder's forward never waits for the device.
    """
    num_bins = features[0].shape[1] if len(features) else NUM_MEL_BINS
    lengths = torch.tensor([f.shape[0] for f in features], dtype=torch.int64)
    longest = max(lengths.tolist(), default=0)
    padded = torch.full((len(features), longest, num_bins), FBANK_PAD_VALUE)
    for b, f in enumerate(features):
        padded[b, : f.shape[0]] = f
    check_lengths(lengths, longest)
    return padded, lengths
