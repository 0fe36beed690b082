"""Regenerates tests/fixtures/encoder/streaming_small.pt: the reference's chunk-by-chunk encoder.

The reference (PyPI `zipformer==0.1.3`; set-up in tools/reference.py) is built as a causal
Zipformer-S with chunk 16 and left context 64 (50 Hz frames), its encoder parameters set to
`zipasr.testing.random_parameter(name, shape)`, and run in eval mode the way its streaming
decoder runs it: windows of 2 * 16 + 13 feature frames advancing by 32, the front end's
`streaming_forward` with its ConvNeXt cache, then the encoder's `streaming_forward` with the
per-layer caches and a key padding mask that hides cache slots not yet filled. Saved: the key
list with shapes, the features, every chunk's output and the final flat state list.

    /tmp/refvenv/bin/python tools/make_streaming_fixtures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
from tools.reference import ENCODER_PREFIXES, randomize, reference_asr_model  # noqa: E402
from zipasr.testing import random_features  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "encoder" / "streaming_small.pt"
CHUNK, LEFT, NUM_CHUNKS, BATCH = 16, 64, 5, 1


def main() -> None:
    torch.manual_seed(0)
    model = reference_asr_model("small", causal=True, chunk=CHUNK, left=LEFT)
    shapes = randomize(model, ENCODER_PREFIXES)

    window = 2 * CHUNK + 13
    frames = 2 * CHUNK * (NUM_CHUNKS - 1) + window
    features, _ = random_features([frames] * BATCH, seed=4)
    states = model.encoder.get_init_states(BATCH)
    embed_cache = model.encoder_embed.get_init_states(BATCH)
    processed = torch.zeros(BATCH, dtype=torch.int32)
    outputs = []
    with torch.no_grad():
        for k in range(NUM_CHUNKS):
            x = features[:, 2 * CHUNK * k : 2 * CHUNK * k + window]
            x_lens = torch.full((BATCH,), window)
            x, x_lens, embed_cache = model.encoder_embed.streaming_forward(x, x_lens, embed_cache)
            unfilled = (processed.unsqueeze(1) <= torch.arange(LEFT)).flip(1)
            mask = torch.cat([unfilled, torch.zeros(BATCH, CHUNK, dtype=torch.bool)], dim=1)
            out, _, states = model.encoder.streaming_forward(
                x.permute(1, 0, 2), x_lens, states, mask
            )
            processed = processed + x_lens
            outputs.append(out.permute(1, 0, 2))
    fixture = {
        "shapes": shapes,
        "chunk_frames": CHUNK,
        "left_context_frames": LEFT,
        "features": features,
        "outputs": outputs,
        "final_state": [*states, embed_cache, processed],
        "reference": "zipformer==0.1.3 encoder_embed/encoder streaming_forward, eval, float32",
    }
    torch.save(fixture, OUT)
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
