"""Reading in blocks gives the samples of reading the whole file, at any rate and channels."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from zipasr.audio import AudioError, audio_info, read_audio, read_audio_blocks, to_mono_16k


@pytest.mark.parametrize(("rate", "channels"), [(16000, 1), (44100, 2), (8000, 1), (22050, 3)])
@pytest.mark.parametrize("block_s", [0.37, 2.0])
def test_blocks_join_to_the_whole_file_resampled(tmp_path, rate, channels, block_s):
    rng = np.random.default_rng(rate)
    samples = (0.2 * rng.standard_normal((int(5.3 * rate), channels))).astype(np.float32)
    path = tmp_path / "a.wav"
    soundfile.write(path, samples, rate, subtype="FLOAT")
    whole = to_mono_16k(*read_audio(path))
    blocks = list(read_audio_blocks(path, block_s=block_s))
    assert len(blocks) > 2  # read in pieces, not at once
    assert max(b.shape[0] for b in blocks) <= int(block_s * 16000) + 200
    joined = torch.cat(blocks)
    assert joined.shape == whole.shape
    torch.testing.assert_close(joined, whole, atol=2e-6, rtol=0)


def test_unreadable_empty_and_nan_files_raise_audio_error(tmp_path):
    missing = tmp_path / "missing.wav"
    with pytest.raises(AudioError, match="missing.wav"):
        audio_info(missing)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="0 samples"):
        list(read_audio_blocks(empty))
    bad = tmp_path / "nan.wav"
    x = np.zeros(32000, np.float32)
    x[20000] = np.nan
    soundfile.write(bad, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        list(read_audio_blocks(bad, block_s=0.5))
    assert audio_info(bad).duration_s == 2.0
