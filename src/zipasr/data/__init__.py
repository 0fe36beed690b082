"""Speech data in, batches out: manifests, fbank features, tokenizer, guardrails, sampling.

Needs the ``data`` extra (``pip install "zipasr[data]"``): lhotse, kaldi-native-fbank (tests),
sentencepiece, soundfile, espeakng-loader (the synthetic corpus). Without it, importing this
package raises :class:`zipasr.optional.MissingExtraError`, which says so.
"""

# ruff: noqa: E402  (the extra is checked before the modules that import it)
from zipasr.optional import require

require("lhotse", "the data pipeline (zipasr.data)")

# isort: split

from zipasr.audio import (
    AudioError,
    FbankOptions,
    fbank,
    num_frames,
    read_audio,
    resample,
    to_mono_16k,
)
from zipasr.data.augment import (
    Reverberation,
    noise_mixing,
    reverberation,
    spec_augment,
    speed_perturbation,
    volume_perturbation,
)
from zipasr.data.batch import Batch, collate
from zipasr.data.features import load_cut_audio, precompute_features
from zipasr.data.guardrails import Skip, SkipReason, SkipReport, check_utterance
from zipasr.data.loaders import (
    AsrDataset,
    LoaderConfig,
    iterate_batches,
    make_loader,
    screen_cuts,
    screened,
)
from zipasr.data.manifests import (
    FORMATS,
    audio_cuts,
    cuts_from_folder,
    cuts_from_jsonl,
    cuts_from_kaldi,
    cuts_to_jsonl,
    folder_to_jsonl,
    load_cuts,
    manifest_format,
    manifest_texts,
    open_manifest,
)
from zipasr.data.sampler import ResumableBucketingSampler
from zipasr.data.sources import (
    CutSource,
    IterableSource,
    JsonlSource,
    ListSource,
    MixedSource,
    ScreenedSource,
)
from zipasr.data.text import normalize_text
from zipasr.data.tokenizer import Tokenizer, train_tokenizer

__all__ = [
    "AsrDataset",
    "AudioError",
    "Batch",
    "CutSource",
    "FORMATS",
    "FbankOptions",
    "IterableSource",
    "JsonlSource",
    "ListSource",
    "LoaderConfig",
    "MixedSource",
    "ResumableBucketingSampler",
    "Reverberation",
    "ScreenedSource",
    "Skip",
    "SkipReason",
    "SkipReport",
    "Tokenizer",
    "audio_cuts",
    "check_utterance",
    "collate",
    "cuts_from_folder",
    "cuts_from_jsonl",
    "cuts_from_kaldi",
    "cuts_to_jsonl",
    "fbank",
    "folder_to_jsonl",
    "iterate_batches",
    "load_cut_audio",
    "load_cuts",
    "make_loader",
    "manifest_format",
    "manifest_texts",
    "noise_mixing",
    "normalize_text",
    "num_frames",
    "open_manifest",
    "precompute_features",
    "read_audio",
    "resample",
    "reverberation",
    "screen_cuts",
    "screened",
    "spec_augment",
    "speed_perturbation",
    "to_mono_16k",
    "train_tokenizer",
    "volume_perturbation",
]
