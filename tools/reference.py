"""Imports the reference implementation (PyPI `zipformer==0.1.3`) for fixture and benchmark
scripts. Never imported by zipasr itself or by the tests.

Set-up (a throw-away venv; torch 2.13.0 is on local disk):

    python -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 numpy packaging
    /tmp/refvenv/bin/pip install --no-deps zipformer==0.1.3

The package's __init__ pulls in its CLI and training dependencies (torchaudio, onnx, hub
clients), so this registers a bare package object and imports the model modules directly,
with the few training-only imports they make replaced by empty stand-ins.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types

_STUBS = {
    "atdataset": ("SpecAugment", "time_warp", "fix_random_seed"),
    "kaldialign": (),
    "kaldifst": (),
    "torch.utils.tensorboard": ("SummaryWriter",),
}


def import_reference(
    module: str = "modules.model", *, compile_swoosh: bool = False
) -> types.ModuleType:
    """Returns ``zipformer.<module>`` of the reference package, e.g. "modules.optim".

    ``compile_swoosh``: the reference wraps its Swoosh functions in torch.compile unless
    TORCH_COMPILE_DISABLE is set; off by default (compiling takes minutes on a CPU).
    """
    if not compile_swoosh:
        os.environ["TORCH_COMPILE_DISABLE"] = "1"
    if "zipformer" not in sys.modules:
        spec = importlib.util.find_spec("zipformer")
        if spec is None or spec.origin is None:
            sys.exit("the reference package is not installed: see tools/reference.py")
        for name, attrs in _STUBS.items():
            stub = types.ModuleType(name)
            for attr in attrs:
                setattr(stub, attr, object)
            sys.modules.setdefault(name, stub)
        package = types.ModuleType("zipformer")
        package.__path__ = [os.path.dirname(spec.origin)]
        sys.modules["zipformer"] = package
    return importlib.import_module(f"zipformer.{module}")


# The reference's per-stack arguments for the paper's presets (comma-separated, as it takes them).
PRESETS = {
    "small": dict(
        num_encoder_layers="2,2,2,2,2,2",
        encoder_dim="192,256,256,256,256,256",
        feedforward_dim="512,768,768,768,768,768",
        encoder_unmasked_dim="192,192,192,192,192,192",
    ),
    "medium": dict(
        num_encoder_layers="2,2,3,4,3,2",
        encoder_dim="192,256,384,512,384,256",
        feedforward_dim="512,768,1024,1536,1024,768",
        encoder_unmasked_dim="192,192,256,256,256,192",
    ),
}
SHARED = dict(
    downsampling_factor="1,2,4,8,4,2",
    num_heads="4,4,4,8,4,4",
    query_head_dim="32",
    value_head_dim="12",
    pos_head_dim="4",
    cnn_module_kernel="31,31,15,15,15,31",
    pos_dim=48,
)


def reference_asr_model(
    preset: str,
    *,
    causal: bool = False,
    chunk: int | None = None,
    left: int | None = None,
    ctc: bool = False,
):  # type: ignore[no-untyped-def]
    """The reference AsrModel (transducer, vocab 500) for a preset, in eval mode.

    One chunk size and one left context each: with several, the reference draws one at random
    on every call, even in eval.
    """
    model = import_reference("modules.model")
    return model.AsrModel(
        **SHARED,
        **PRESETS[preset],
        causal=causal,
        chunk_size=str(-1 if chunk is None else chunk),
        left_context_frames=str(-1 if left is None else left),
        vocab_size=500,
        use_ctc=ctc,
    ).eval()


ENCODER_PREFIXES = ("encoder_embed.", "encoder.")


def randomize(model, prefixes: tuple[str, ...] = ()) -> dict[str, tuple[int, ...]]:  # type: ignore[no-untyped-def]
    """Overwrites the reference model's parameters whose names start with ``prefixes`` (all if
    empty) with `zipasr.testing.random_parameter(name, shape)`, a pure function of the name and
    shape, so that a test can rebuild the same weights from the returned {name: shape}."""
    import torch

    from zipasr.testing import random_parameter

    shapes = {
        k: tuple(v.shape)
        for k, v in model.state_dict().items()
        if not prefixes or k.startswith(prefixes)
    }
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name in shapes:
                param.copy_(random_parameter(name, shapes[name]))
    return shapes
