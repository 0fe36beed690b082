"""Regenerates tests/fixtures/models/small_transducer_ctc.pt: a whole reference model's outputs.

The reference AsrModel (PyPI `zipformer==0.1.3`; set-up in tools/reference.py) is built S-sized
with a transducer and a CTC head, every parameter set to `zipasr.testing.random_parameter(name,
shape)`, and run in eval mode on a padded batch of three utterances with random targets. Saved:
the key list with shapes, inputs, targets, and the reference's encoder output, decoder output,
a slice of the joiner's logits, a slice of the CTC log-probs, the CTC loss, the token ids of
its greedy search, modified beam search (beam 4) and CTC greedy search, and, when a k2 is
importable, the simple and pruned transducer losses of the recipe (prune_range 5, lm_scale 0.25,
am_scale 0, reduction sum).

k2 itself does not install here; fast_rnnt (k2's RNN-T code as a standalone package, built
from its sdist as /work/shared/oracles.md says) has the same functions and is used in its place:

    PYTHONPATH=<fast_rnnt site-packages> /tmp/refvenv/bin/python tools/make_model_fixtures.py
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
from tools.reference import import_reference, randomize, reference_asr_model  # noqa: E402
from zipasr.testing import random_features  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "models" / "small_transducer_ctc.pt"
LENGTHS = [217, 180, 99]
TARGET_LENGTHS = [14, 9, 5]
JOINER_FRAMES = 6  # logits are saved for utterance 0, frames [0, 6), all target positions
CTC_FRAMES = 10
DECODE_BLANK_BIAS = 2.5


def k2_stand_in() -> bool:
    """Makes `import k2` give fast_rnnt, if it is importable. True if losses can be computed."""
    try:
        sys.modules["k2"] = importlib.import_module("fast_rnnt")
    except ImportError:
        return False
    return True


def main() -> None:
    with_losses = k2_stand_in()
    torch.manual_seed(0)
    model = reference_asr_model("small", ctc=True)
    model_module = sys.modules[type(model).__module__]
    if with_losses:
        model_module.k2 = sys.modules["k2"]
    shapes = randomize(model)

    features, lengths = random_features(LENGTHS, seed=2)
    gen = torch.Generator().manual_seed(3)
    targets = [torch.randint(3, 500, (n,), generator=gen).tolist() for n in TARGET_LENGTHS]
    with torch.no_grad():
        enc, enc_lens = model.forward_encoder(features, lengths)
        u = max(TARGET_LENGTHS)
        sos_targets = torch.zeros(len(targets), u + 1, dtype=torch.int64)  # blank-padded
        for i, t in enumerate(targets):
            sos_targets[i, 1 : len(t) + 1] = torch.tensor(t)
        dec = model.decoder(sos_targets)
        logits = model.joiner(enc[0, :JOINER_FRAMES, None], dec[0, None])
        ctc = model.ctc_output(enc)
        flat = torch.tensor([x for t in targets for x in t])
        ctc_loss = model.forward_ctc(enc, enc_lens, flat, torch.tensor(TARGET_LENGTHS))
        fixture = {
            "shapes": shapes,
            "features": features,
            "lengths": lengths,
            "targets": targets,
            "encoder_out": enc,
            "encoder_out_lens": enc_lens,
            "decoder_in": sos_targets,
            "decoder_out": dec,
            "joiner_logits_utt0": logits,
            "ctc_log_probs": ctc[:, :CTC_FRAMES],
            "ctc_loss": ctc_loss,
            "reference": "zipformer==0.1.3 AsrModel, eval, float32",
        }
        search = import_reference("decode.search")
        fixture["ctc_greedy_tokens"] = search.ctc_greedy_search(model.ctc_output(enc), enc_lens)
        # With random weights the encoder output barely changes over time and the decoders
        # would emit one token forever; random encoder frames and a blank bias give varied
        # output, which is what a decoding test needs.
        model.joiner.output_linear.bias[0] += DECODE_BLANK_BIAS
        dec_in = torch.randn(3, 30, enc.shape[-1], generator=torch.Generator().manual_seed(5))
        dec_lens = torch.tensor([30, 22, 9])
        fixture["decode_encoder_out"] = dec_in
        fixture["decode_lengths"] = dec_lens
        fixture["decode_blank_bias"] = DECODE_BLANK_BIAS
        fixture["greedy_tokens"] = search._greedy_search_batch(model, dec_in, dec_lens)
        fixture["beam4_tokens"] = search.modified_beam_search(model, dec_in, dec_lens, beam=4)
        model.joiner.output_linear.bias[0] -= DECODE_BLANK_BIAS
        if with_losses:
            simple, pruned = model.forward_transducer(
                enc, enc_lens, targets, prune_range=5, am_scale=0.0, lm_scale=0.25
            )
            fixture.update(simple_loss=simple, pruned_loss=pruned, losses_from="fast_rnnt 1.3")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fixture, OUT)
    print(
        f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size // 1024} KiB); losses: {with_losses}"
    )


if __name__ == "__main__":
    main()
