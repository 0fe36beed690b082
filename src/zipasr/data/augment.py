"""Training augmentation as composable transforms outside the model (recipe settings: spec 1.1).

Two kinds, lhotse's implementations:

* cut transforms, ``CutSet -> CutSet``, applied before audio is loaded: speed perturbation
  (resampling, so pitch and length change together), volume perturbation, reverberation (a
  measured or simulated room impulse response) and noise mixing at a random SNR;
* feature transforms, ``(B, T, F) -> (B, T, F)``, applied to the padded batch: SpecAugment with
  time warping, frequency masks and time masks, confined to each utterance's valid frames.

None of them exists at evaluation: build the evaluation loader with empty lists. Each cut
transform takes a seed, and draws for a batch from the seed and the batch's utterance ids alone:
the same batch is augmented the same way in any DataLoader worker and after a resume. The
trainer builds them from the ``data`` section of its config
(:func:`zipasr.train.data.augmentations`).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence

from torch import Tensor

CutTransform = Callable  # CutSet -> CutSet (lhotse types are optional at import time)
#: (features (B, T, F), supervision_segments (B, 3) int32 [index, start, num_frames]) -> (B, T, F)
FeatureTransform = Callable[..., Tensor]


class BatchSeeded:
    """A cut transform whose RNG (attribute ``attr``) is reseeded for each batch from ``seed``
    and the batch's cut ids. A transform's own running RNG would restart with a resumed run
    (so its draws would differ from an uninterrupted run's) and be copied into every DataLoader
    worker (so the workers would draw alike)."""

    def __init__(self, transform: CutTransform, attr: str, seed: int) -> None:
        self.transform, self.attr, self.seed = transform, attr, seed

    def __call__(self, cuts):
        ids = "\0".join(c.id for c in cuts).encode()
        digest = int.from_bytes(hashlib.blake2b(ids, digest_size=8).digest(), "little")
        setattr(self.transform, self.attr, random.Random(self.seed * 2**64 + digest))
        return self.transform(cuts)


def speed_perturbation(
    factors: Sequence[float] = (0.9, 1.1), p: float = 2 / 3, seed: int = 0
) -> CutTransform:
    """Each utterance is played ``factor`` times faster with probability ``p`` (a factor drawn
    uniformly). The defaults give icefall's 0.9/1.0/1.1 mix in equal shares, on the fly instead
    of as three stored copies."""
    from lhotse.dataset.cut_transforms import PerturbSpeed

    if not 0 <= p <= 1 or not factors or min(factors) <= 0:
        raise ValueError(f"factors={factors}, p={p}; give positive factors and 0 <= p <= 1")
    return BatchSeeded(PerturbSpeed(factors=list(factors), p=p), "random", seed)


def volume_perturbation(
    scale: tuple[float, float] = (0.125, 2.0), p: float = 0.5, seed: int = 0
) -> CutTransform:
    """Each utterance's amplitude is multiplied by a factor drawn uniformly from ``scale`` with
    probability ``p`` (lhotse's ``PerturbVolume``; its defaults)."""
    from lhotse.dataset.cut_transforms import PerturbVolume

    low, high = scale
    if not 0 < low <= high or not 0 <= p <= 1:
        raise ValueError(f"scale={scale}, p={p}; give 0 < low <= high and 0 <= p <= 1")
    return BatchSeeded(PerturbVolume(p=p, scale_low=low, scale_high=high), "random", seed)


class Reverberation:
    """Convolves each utterance, with probability ``p``, with a room impulse response drawn at
    random from ``rirs`` (lhotse Recordings of measured responses) or, without them, from
    ``num_simulated`` simulated ones (:func:`simulated_rir`; lhotse's own room simulator needs
    torchaudio, which zipasr does not use). lhotse convolves and keeps the input's energy."""

    def __init__(
        self,
        rirs=None,
        p: float = 0.5,
        seed: int = 0,
        num_simulated: int = 64,
        t60_s: tuple[float, float] = (0.2, 0.8),
    ) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p={p}; give 0 <= p <= 1")
        self.rng = random.Random(seed)
        if rirs is None:
            bank = random.Random(seed)
            rirs = [
                _memory_recording(simulated_rir(bank, bank.uniform(*t60_s)), f"simulated-rir-{i}")
                for i in range(num_simulated)
            ]
        self.rirs = list(rirs)
        if not self.rirs:
            raise ValueError("rirs is empty; pass impulse responses, or None to simulate rooms")
        self.p = p

    def __call__(self, cuts):
        from lhotse import CutSet

        out = []
        for cut in cuts:
            if self.rng.random() < self.p:
                cut = cut.reverb_rir(rir_recording=self.rng.choice(self.rirs))
            out.append(cut)
        return CutSet.from_cuts(out)


def simulated_rir(rng: random.Random, t60_s: float, sampling_rate: int = 16000):
    """A synthetic room impulse response (S,) float32: the direct path, then, after a pre-delay
    of 2-10 ms, Gaussian noise whose level falls 60 dB in ``t60_s`` seconds, 0-10 dB below the
    direct path (the usual exponential-decay model of late reverberation)."""
    import numpy as np

    gen = np.random.default_rng(rng.getrandbits(63))
    length = int(t60_s * sampling_rate)
    t = np.arange(length) / sampling_rate
    tail = gen.standard_normal(length) * 10.0 ** (-3.0 * t / t60_s)
    tail *= 10.0 ** (-rng.uniform(0.0, 10.0) / 20.0) / np.sqrt(
        np.mean(tail[: sampling_rate // 50] ** 2)
    )
    delay = int(rng.uniform(0.002, 0.01) * sampling_rate)
    rir = np.zeros(delay + length, dtype=np.float32)
    rir[0] = 1.0
    rir[delay:] += tail.astype(np.float32)
    return rir / np.abs(rir).max()


def _memory_recording(samples, recording_id: str, sampling_rate: int = 16000):
    """A lhotse Recording of ``samples`` (S,) held in memory as WAV bytes."""
    import io

    import soundfile
    from lhotse import Recording

    buffer = io.BytesIO()
    soundfile.write(buffer, samples, sampling_rate, format="WAV", subtype="FLOAT")
    return Recording.from_bytes(buffer.getvalue(), recording_id=recording_id)


def reverberation(rirs=None, p: float = 0.5, seed: int = 0) -> CutTransform:
    """:class:`Reverberation`: measured ``rirs`` (lhotse Recordings) or simulated rooms."""
    return BatchSeeded(Reverberation(rirs, p, seed), "rng", seed)


def noise_mixing(
    noise_cuts, snr_db: tuple[float, float] = (10.0, 20.0), p: float = 0.5, seed: int = 0
) -> CutTransform:
    """Mixes a random noise cut (e.g. MUSAN's) into each utterance with probability ``p``, at an
    SNR drawn uniformly from ``snr_db``; the noise is looped or cut to the utterance's length."""
    from lhotse.dataset.cut_transforms import CutMix

    if len(noise_cuts) == 0:
        raise ValueError("noise_cuts is empty; pass a CutSet of noise recordings")
    low, high = snr_db
    if low > high or not 0 <= p <= 1:
        raise ValueError(f"snr_db={snr_db}, p={p}; give low <= high dB and 0 <= p <= 1")
    mix = CutMix(cuts=noise_cuts, snr=snr_db, p=p, pad_to_longest=False, preserve_id=True)
    return BatchSeeded(mix, "rng", seed)


def spec_augment(
    time_warp_factor: int = 80,
    num_feature_masks: int = 2,
    features_mask_size: int = 27,
    num_frame_masks: int = 10,
    frames_mask_size: int = 100,
    max_frames_mask_fraction: float = 0.15,
    p: float = 0.9,
) -> FeatureTransform:
    """SpecAugment with the recipe's settings (spec 1.1): time warp factor 80, two frequency masks
    up to 27 bins, ten time masks up to 100 frames covering at most 15% of each utterance."""
    from lhotse.dataset.signal_transforms import SpecAugment

    return SpecAugment(
        time_warp_factor=time_warp_factor,
        num_feature_masks=num_feature_masks,
        features_mask_size=features_mask_size,
        num_frame_masks=num_frame_masks,
        frames_mask_size=frames_mask_size,
        max_frames_mask_fraction=max_frames_mask_fraction,
        p=p,
    )
