"""Training augmentation as composable transforms outside the model (recipe settings: spec 1.1).

Two kinds, lhotse's implementations:

* cut transforms, ``CutSet -> CutSet``, applied before audio is loaded: speed perturbation
  (resampling, so pitch and length change together), volume perturbation, reverberation (a
  measured or simulated room impulse response) and noise mixing at a random SNR;
* feature transforms, ``(B, T, F) -> (B, T, F)``, applied to the padded batch: SpecAugment with
  time warping, frequency masks and time masks, confined to each utterance's valid frames.

None of them exists at evaluation: build the evaluation loader with empty lists. Each takes a
seed: the same seed gives the same draws, utterance by utterance. The trainer builds them from the
``data`` section of its config (:func:`zipasr.train.data.augmentations`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from torch import Tensor

CutTransform = Callable  # CutSet -> CutSet (lhotse types are optional at import time)
#: (features (B, T, F), supervision_segments (B, 3) int32 [index, start, num_frames]) -> (B, T, F)
FeatureTransform = Callable[..., Tensor]


def speed_perturbation(
    factors: Sequence[float] = (0.9, 1.1), p: float = 2 / 3, seed: int = 0
) -> CutTransform:
    """Each utterance is played ``factor`` times faster with probability ``p`` (a factor drawn
    uniformly). The defaults give icefall's 0.9/1.0/1.1 mix in equal shares, on the fly instead
    of as three stored copies."""
    from lhotse.dataset.cut_transforms import PerturbSpeed

    if not 0 <= p <= 1 or not factors or min(factors) <= 0:
        raise ValueError(f"factors={factors}, p={p}; give positive factors and 0 <= p <= 1")
    return PerturbSpeed(factors=list(factors), p=p, randgen=random.Random(seed))


def volume_perturbation(
    scale: tuple[float, float] = (0.125, 2.0), p: float = 0.5, seed: int = 0
) -> CutTransform:
    """Each utterance's amplitude is multiplied by a factor drawn uniformly from ``scale`` with
    probability ``p`` (lhotse's ``PerturbVolume``; its defaults)."""
    from lhotse.dataset.cut_transforms import PerturbVolume

    low, high = scale
    if not 0 < low <= high or not 0 <= p <= 1:
        raise ValueError(f"scale={scale}, p={p}; give 0 < low <= high and 0 <= p <= 1")
    return PerturbVolume(p=p, scale_low=low, scale_high=high, randgen=random.Random(seed))


class Reverberation:
    """Convolves each utterance, with probability ``p``, with a room impulse response: one of
    ``rirs`` (recordings of measured responses) drawn at random, or, without them, one that
    lhotse simulates (a random room and source position; arXiv:2208.04101). The output keeps
    the input's energy. Deterministic for a seed (the simulated rooms are seeded from it)."""

    def __init__(self, rirs=None, p: float = 0.5, seed: int = 0) -> None:
        if not 0 <= p <= 1:
            raise ValueError(f"p={p}; give 0 <= p <= 1")
        self.rirs = list(rirs) if rirs is not None else []
        self.p = p
        self.rng = random.Random(seed)

    def __call__(self, cuts):
        from lhotse import CutSet

        out = []
        for cut in cuts:
            if self.rng.random() < self.p:
                rir = self.rng.choice(self.rirs) if self.rirs else None
                room = self.rng.getrandbits(31)
                cut = cut.reverb_rir(rir_recording=rir, room_rng_seed=room, source_rng_seed=room)
            out.append(cut)
        return CutSet.from_cuts(out)


def reverberation(rirs=None, p: float = 0.5, seed: int = 0) -> CutTransform:
    """:class:`Reverberation`: measured ``rirs`` (lhotse Recordings) or simulated rooms."""
    return Reverberation(rirs, p, seed)


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
    return CutMix(
        cuts=noise_cuts, snr=snr_db, p=p, seed=seed, pad_to_longest=False, preserve_id=True
    )


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
