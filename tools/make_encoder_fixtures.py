"""Regenerates tests/fixtures/encoder/*.pt: reference Zipformer outputs for the parity tests.

The reference is the authors' model code as packaged on PyPI (`zipformer==0.1.3`). It is only
needed here, never by the tests. Set-up (a throw-away venv; torch 2.13.0 is on local disk):

    python -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 numpy packaging
    /tmp/refvenv/bin/pip install --no-deps zipformer==0.1.3
    /tmp/refvenv/bin/python tools/make_encoder_fixtures.py

What it does, per case (S and M; non-causal, and causal with chunk 16 / left context 64,
chunk 16 / unlimited left context, and full context): builds the reference AsrModel, overwrites
every encoder parameter with `zipasr.testing.random_parameter(icefall_name, shape)` (a pure
function of name and shape, so the test can rebuild the same weights from the key list), runs
`forward_encoder` in eval mode on a padded batch of three utterances, and saves the key list with
shapes and the output; the input batch is saved once, in inputs.pt. The package's __init__ pulls
in its CLI and training dependencies, so its model modules are imported directly with those
imports stubbed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path

os.environ["TORCH_COMPILE_DISABLE"] = "1"  # the reference compiles Swoosh otherwise

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from zipasr.testing import random_features, random_parameter  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "encoder"
LENGTHS = [217, 180, 99]
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
# name -> (causal, chunk_frames, left_context_frames); None = unlimited.
CASES = {
    "full": (False, None, None),
    "causal_c16_l64": (True, 16, 64),
    "causal_c16_linf": (True, 16, None),
    "causal_full": (True, None, None),
}


def import_reference() -> types.ModuleType:
    spec = importlib.util.find_spec("zipformer")
    if spec is None or spec.origin is None:
        sys.exit("the reference is not installed: see this file's docstring")
    stubs = {
        "atdataset": ("SpecAugment", "time_warp", "fix_random_seed"),
        "kaldialign": (),
        "torch.utils.tensorboard": ("SummaryWriter",),
    }
    for name, attrs in stubs.items():
        module = types.ModuleType(name)
        for attr in attrs:
            setattr(module, attr, object)
        sys.modules[name] = module
    package = types.ModuleType("zipformer")
    package.__path__ = [os.path.dirname(spec.origin)]
    sys.modules["zipformer"] = package
    return importlib.import_module("zipformer.modules.model")


def reference_model(ref: types.ModuleType, preset: str, causal: bool, chunk, left):
    # The reference takes per-stack lists as comma-separated strings. One chunk size and one
    # left context each: with several it draws one at random on every call, even in eval.
    return ref.AsrModel(
        **SHARED,
        **PRESETS[preset],
        causal=causal,
        chunk_size=str(-1 if chunk is None else chunk),
        left_context_frames=str(-1 if left is None else left),
        vocab_size=500,
    ).eval()


def main() -> None:
    ref = import_reference()
    OUT.mkdir(parents=True, exist_ok=True)
    features, lengths = random_features(LENGTHS, seed=1)
    torch.save({"features": features, "lengths": lengths}, OUT / "inputs.pt")
    for preset in PRESETS:
        for case, (causal, chunk, left) in CASES.items():
            torch.manual_seed(0)
            model = reference_model(ref, preset, causal, chunk, left)
            shapes = {
                k: tuple(v.shape)
                for k, v in model.state_dict().items()
                if k.startswith(("encoder_embed.", "encoder."))
            }
            with torch.no_grad():
                for name, param in model.named_parameters():
                    if name in shapes:
                        param.copy_(random_parameter(name, shapes[name]))
                out, out_lengths = model.forward_encoder(features, lengths)
            fixture = {
                "preset": preset,
                "causal": causal,
                "chunk_frames": chunk,
                "left_context_frames": left,
                "shapes": shapes,
                "output": out,
                "output_lengths": out_lengths,
                "reference": "zipformer==0.1.3 AsrModel.forward_encoder, eval, float32",
            }
            path = OUT / f"{preset}_{case}.pt"
            torch.save(fixture, path)
            shape, lens = tuple(out.shape), out_lengths.tolist()
            print(f"{path.relative_to(ROOT)}: output {shape}, lengths {lens}")


if __name__ == "__main__":
    main()
