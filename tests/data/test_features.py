from __future__ import annotations

import logging
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np
import pytest
import soundfile
import torch

import zipasr.audio.io
from zipasr.data import FbankOptions, fbank, num_frames, read_audio

SR = 16000


def _knf_fbank(samples: np.ndarray) -> np.ndarray:
    """sherpa-onnx's front end: kaldi-native-fbank with sherpa-onnx's default options."""
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = SR
    opts.frame_opts.dither = 0.0
    opts.frame_opts.snip_edges = False
    opts.mel_opts.num_bins = 80
    opts.mel_opts.low_freq = 20.0
    opts.mel_opts.high_freq = -400.0
    online = knf.OnlineFbank(opts)
    online.accept_waveform(SR, samples.tolist())
    online.input_finished()
    return np.stack([online.get_frame(i) for i in range(online.num_frames_ready)])


def _test_signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(int(1.7 * SR)) / SR
    tones = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220, 1330, 5100))
    noise = 0.1 * rng.standard_normal(t.size)
    quiet = 0.001 * rng.standard_normal(int(0.37 * SR))
    with_silence = np.concatenate([np.zeros(4000), tones[:8000] + noise[:8000], np.zeros(1234)])
    return {
        "noise": noise,
        "quiet": quiet,
        "gap": with_silence,
    }


def test_fbank_matches_kaldi_native_fbank(tmp_path: Path, corpus: Path) -> None:
    wavs = []
    for name, x in _test_signals().items():
        soundfile.write(tmp_path / f"{name}.wav", x, SR, subtype="PCM_16")
        wavs.append(tmp_path / f"{name}.wav")
    wavs += sorted((corpus / "wav").glob("*/*.wav"))[::8]  # synthetic speech, all splits
    worst = 0.0
    for wav in wavs:
        samples, rate = read_audio(wav)
        ours = fbank(samples[0], rate).numpy()
        ref = _knf_fbank(samples[0].numpy())
        assert ours.shape == ref.shape == (num_frames(samples.shape[1]), 80), wav
        worst = max(worst, float(np.abs(ours - ref).max()))
    print(f"max |fbank - kaldi-native-fbank| over {len(wavs)} WAV files: {worst:.2e}")
    assert worst <= 1e-3


def test_fbank_mixes_down_and_resamples_with_a_note(caplog, monkeypatch) -> None:
    # The note is logged once per format and process; start from none noted, whatever ran first.
    monkeypatch.setattr(zipasr.audio.io, "_NOTED", set())
    stereo_44k = torch.randn(2, 44100) * 0.1
    with caplog.at_level(logging.INFO, logger="zipasr.audio.io"):
        feats = fbank(stereo_44k, 44100)
    assert feats.shape == (num_frames(16000), 80) and feats.dtype == torch.float32
    assert "2 channel(s) at 44100 Hz" in caplog.text
    mono_16k = torch.randn(16000) * 0.1
    assert fbank(mono_16k.expand(2, -1), SR).allclose(fbank(mono_16k, SR))


def test_fbank_options_are_the_recipe_defaults() -> None:
    opts = FbankOptions()
    assert (opts.num_mel_bins, opts.low_freq_hz, opts.high_freq_hz) == (80, 20.0, -400.0)
    assert (opts.snip_edges, opts.dither) == (False, 0.0)


def test_fbank_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="0 samples"):
        fbank(torch.zeros(0), SR)
    with pytest.raises(ValueError, match=r"100 samples .* shorter than one analysis window"):
        fbank(torch.zeros(100), SR)  # lhotse's extractor would fail inside, unexplained
    assert fbank(torch.zeros(400), SR).shape == (3, 80)
    with pytest.raises(ValueError, match="shape"):
        fbank(torch.zeros(1, 2, 3), SR)


def test_pure_tones_differ_only_at_the_log_floor() -> None:
    # Noise-free synthetic tones leave mel bands with energy near float32 epsilon (log -15.9):
    # both float32 FFTs are at their round-off there and differ by up to ~1e-2. From 25 dB
    # above that floor (log energy > -12) on they agree to 1e-3.
    t = np.arange(SR) / SR
    x = (0.5 * np.sin(2 * np.pi * (100 + 2000 * t) * t)).astype(np.float32)
    ours, ref = fbank(torch.from_numpy(x), SR).numpy(), _knf_fbank(x)
    above_floor = ref > -12.0
    assert above_floor.mean() > 0.25
    assert np.abs(ours - ref)[above_floor].max() <= 1e-3
