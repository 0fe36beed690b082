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
from zipasr.data.augment import noise_mixing, spec_augment, speed_perturbation
from zipasr.data.batch import Batch, collate
from zipasr.data.features import load_cut_audio, precompute_features
from zipasr.data.guardrails import Skip, SkipReason, SkipReport, check_utterance
from zipasr.data.loaders import AsrDataset, LoaderConfig, iterate_batches, make_loader, screen_cuts
from zipasr.data.manifests import (
    cuts_from_folder,
    cuts_from_jsonl,
    cuts_to_jsonl,
    folder_to_jsonl,
    load_cuts,
)
from zipasr.data.sampler import ResumableBucketingSampler
from zipasr.data.text import normalize_text
from zipasr.data.tokenizer import Tokenizer, train_tokenizer

__all__ = [
    "AsrDataset",
    "AudioError",
    "Batch",
    "FbankOptions",
    "LoaderConfig",
    "ResumableBucketingSampler",
    "Skip",
    "SkipReason",
    "SkipReport",
    "Tokenizer",
    "check_utterance",
    "collate",
    "cuts_from_folder",
    "cuts_from_jsonl",
    "cuts_to_jsonl",
    "fbank",
    "folder_to_jsonl",
    "iterate_batches",
    "load_cut_audio",
    "load_cuts",
    "make_loader",
    "noise_mixing",
    "normalize_text",
    "num_frames",
    "precompute_features",
    "read_audio",
    "resample",
    "screen_cuts",
    "spec_augment",
    "speed_perturbation",
    "to_mono_16k",
    "train_tokenizer",
]
