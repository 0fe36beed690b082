"""Features of lhotse cuts: a cut's audio as the front end takes it, and fbank stored once.

The front end itself (options, the offline and streaming extractors) is :mod:`zipasr.audio.fbank`.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from zipasr.audio.fbank import FbankOptions, cached_extractor
from zipasr.audio.io import AudioError, to_mono_16k
from zipasr.frontend import SAMPLE_RATE


def load_cut_audio(cut) -> Tensor:  # cut: lhotse.cut.Cut (lhotse is an optional dependency)
    """A lhotse cut's audio (after its own transforms: speed, mixing) as 16 kHz mono (S,).

    Raises:
        AudioError: the audio cannot be decoded.
    """
    try:
        samples = cut.load_audio()
    except Exception as e:  # lhotse wraps decoder errors in several types
        raise AudioError(f"cannot load the audio of cut {cut.id}: {e}") from e
    if samples is None or samples.size == 0:
        raise AudioError(f"cut {cut.id} has no audio samples")
    return to_mono_16k(samples, cut.sampling_rate)


def precompute_features(cuts, storage_dir: str | Path, options: FbankOptions | None = None):
    """Computes every cut's fbank once and stores it with lhotse (one ``.npy`` per cut under
    ``storage_dir``, lossless). Returns the cuts with ``features`` attached, an eager CutSet
    (``cut.load_features()`` then reads them; the batch loader prefers them to audio).

    Cuts whose audio cannot be decoded are left without features (the loader will try the
    audio and report them).
    """
    from lhotse import CutSet
    from lhotse.features.io import NumpyFilesWriter
    from lhotse.utils import fastcopy

    extractor = cached_extractor(options or FbankOptions())
    out = []
    with NumpyFilesWriter(str(storage_dir)) as writer:
        for cut in cuts:
            try:
                samples = load_cut_audio(cut)
            except AudioError:
                out.append(cut)
                continue
            manifest = extractor.extract_from_samples_and_store(  # type: ignore[attr-defined]
                samples.numpy()[None], writer, SAMPLE_RATE, offset=cut.start, channel=0
            )
            out.append(fastcopy(cut, features=manifest))
    return CutSet.from_cuts(out)
