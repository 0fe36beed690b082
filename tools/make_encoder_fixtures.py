"""Regenerates tests/fixtures/encoder/*.pt: reference Zipformer outputs for the parity tests.

The reference is the authors' model code as packaged on PyPI (`zipformer==0.1.3`). It is only
needed here, never by the tests. Run it with the reference installed (set-up: tools/reference.py):

    /tmp/refvenv/bin/python tools/make_encoder_fixtures.py

What it does, per case (S and M; non-causal, and causal with chunk 16 / left context 64,
chunk 16 / unlimited left context, and full context): builds the reference AsrModel, overwrites
every encoder parameter with `zipasr.testing.random_parameter(icefall_name, shape)` (a pure
function of name and shape, so the test can rebuild the same weights from the key list), runs
`forward_encoder` in eval mode on a padded batch of three utterances, and saves the key list with
shapes and the output; the input batch is saved once, in inputs.pt.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
from tools.reference import ENCODER_PREFIXES, PRESETS, randomize, reference_asr_model  # noqa: E402
from zipasr.testing import random_features  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "encoder"
LENGTHS = [217, 180, 99]
# name -> (causal, chunk_frames, left_context_frames); None = unlimited.
CASES = {
    "full": (False, None, None),
    "causal_c16_l64": (True, 16, 64),
    "causal_c16_linf": (True, 16, None),
    "causal_full": (True, None, None),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    features, lengths = random_features(LENGTHS, seed=1)
    torch.save({"features": features, "lengths": lengths}, OUT / "inputs.pt")
    for preset in PRESETS:
        for case, (causal, chunk, left) in CASES.items():
            torch.manual_seed(0)
            model = reference_asr_model(preset, causal=causal, chunk=chunk, left=left)
            shapes = randomize(model, ENCODER_PREFIXES)
            with torch.no_grad():
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
