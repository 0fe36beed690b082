"""A tiny causal model and recordings with known pauses, shared by the long-form tests."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

import zipasr

VOCAB = 40
TOKENS = ["<blk>", "<sos/eos>", "<unk>"] + [f"\u2581w{i}" for i in range(VOCAB - 3)]


def burst(seconds: float, seed: int) -> np.ndarray:
    """A steady "utterance": a gliding tone in noise, with no pause inside it."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    tone = np.sin(2 * np.pi * (200 + 150 * t) * t)
    return (0.3 * tone + 0.05 * rng.standard_normal(t.shape)).astype(np.float32)


def recording(
    bursts: int, seed: int = 0, pause: tuple[float, float] = (0.5, 3.0)
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Bursts of 1-4 s separated by faint-noise pauses; returns the samples and the pauses
    (start, end) in seconds, the first before the first burst and the last after the last."""
    rng = np.random.default_rng(seed)
    parts, pauses, t = [], [], 0.0
    for i in range(bursts + 1):
        p = rng.uniform(*pause)
        parts.append((1e-3 * rng.standard_normal(int(p * 16000))).astype(np.float32))
        pauses.append((t, t + len(parts[-1]) / 16000))
        t = pauses[-1][1]
        if i < bursts:
            parts.append(burst(rng.uniform(1.0, 4.0), seed=100 * seed + i))
            t += len(parts[-1]) / 16000
    return np.concatenate(parts), pauses


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a busy machine, more spin-wait (the CLI picks 1 for short inputs)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from zipasr.testing import tiny_recognizer

    return zipasr.save(tiny_recognizer(TOKENS), tmp_path_factory.mktemp("m") / "model")


@pytest.fixture(scope="session")
def long_wav(tmp_path_factory):
    """About 40 s: 12 bursts with pauses; (path, pauses)."""
    samples, pauses = recording(12, seed=1)
    path = tmp_path_factory.mktemp("long") / "long.wav"
    soundfile.write(path, samples, 16000)
    return path, pauses
