"""Optional dependencies: imported when a feature needs them, with an error that names the extra.

The core install (``pip install zipasr``) is torch and numpy. Reading audio, features, corpora and
tokenizers need the ``data`` extra, training the ``train`` extra, ONNX export the ``export`` one.
A feature that needs a missing one raises :class:`MissingExtraError`, which says what to install,
instead of a bare ImportError from deep inside a dependency.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: The extra that provides each optional top-level module.
EXTRA_OF = {
    "lhotse": "data",
    "kaldi_native_fbank": "data",
    "sentencepiece": "data",
    "soundfile": "data",
    "espeakng_loader": "data",
    "tqdm": "train",
    "tensorboard": "train",
    "yaml": "train",
    "matplotlib": "train",
    "onnx": "export",
    "onnxruntime": "export",
    "onnxscript": "export",
    "onnxconverter_common": "export",
    "sherpa_onnx": "export",
}


class MissingExtraError(ImportError):
    """A feature needs an optional dependency that is not installed."""


def require(module: str, feature: str) -> ModuleType:
    """Imports ``module`` (e.g. ``"lhotse.dataset"``) for ``feature`` (what the user asked for,
    e.g. "reading audio"), or raises :class:`MissingExtraError` naming the extra to install."""
    top = module.partition(".")[0]
    extra = EXTRA_OF[top]
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = getattr(error, "name", None) or top
        raise MissingExtraError(
            f"{feature} needs the '{extra}' extra ({missing} is not installed): "
            f'pip install "zipasr[{extra}]"'
        ) from error


def require_extra(extra: str, feature: str) -> None:
    """Checks that every module of ``extra`` imports (for a command that will need them all),
    or raises :class:`MissingExtraError` naming it."""
    if extra not in set(EXTRA_OF.values()):
        raise ValueError(f"unknown extra {extra!r}; choose from {sorted(set(EXTRA_OF.values()))}")
    for module, owner in EXTRA_OF.items():
        if owner == extra:
            require(module, feature)
