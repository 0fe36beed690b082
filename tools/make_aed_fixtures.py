"""Regenerates tests/fixtures/models/small_ctc_aed.pt: CR-CTC and attention-decoder reference
values.

The reference AsrModel (PyPI `zipformer==0.1.3`; set-up in tools/reference.py) is built S-sized
with a CTC head and an attention decoder (the CTC/AED recipe's heads; 128 wide, 2 layers, 8
heads, 256 feed-forward; sos = eos = 1, label smoothing 0.1, as its train.py sets them), every
parameter set to `zipasr.testing.random_parameter(name, shape)`, and run in eval mode on a padded
batch of three utterances with random targets.

CR-CTC's augmentation is random, so its two views are frozen: this script masks the batch
twice with its own random time and frequency masks and saves both views; the reference's
forward (use_cr_ctc=True, use_spec_aug=True) is handed them in place of its SpecAugment and time
warp, so everything after the augmentation is the reference's own code.

Saved: parameter shapes, lengths, both views (2B, T, 80; view 1 first), targets; the
reference's losses with CR-CTC (ctc, cr, attention: each already halved as its forward does) and
without (ctc, attention, on view 1); view 1's encoder output and the attention decoder's
log-probabilities on it; its sequence log-probabilities (``-nll.sum(1)``) of a hand-made
n-best list; and, on the first frames of both views' encoder output, the consistency term
(unhalved) and its gradient, which shows the detached side.

    /tmp/refvenv/bin/python tools/make_aed_fixtures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
from tools.reference import PRESETS, SHARED, import_reference, randomize  # noqa: E402
from zipasr.testing import random_features  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "models" / "small_ctc_aed.pt"
LENGTHS = [217, 180, 99]
TARGET_LENGTHS = [14, 9, 5]
GRAD_FRAMES = 8
AED = dict(
    attention_decoder_dim=128,
    attention_decoder_num_layers=2,
    attention_decoder_attention_dim=128,
    attention_decoder_num_heads=8,
    attention_decoder_feedforward_dim=256,
)


def masked(features: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One random SpecAugment-like view: two frequency bands and four time spans set to 0."""
    out = features.clone()
    for b, n in enumerate(lengths.tolist()):
        for _ in range(2):
            width = int(torch.randint(1, 20, (1,), generator=gen))
            start = int(torch.randint(0, 80 - width, (1,), generator=gen))
            out[b, :, start : start + width] = 0.0
        for _ in range(4):
            width = int(torch.randint(1, max(2, n // 10), (1,), generator=gen))
            start = int(torch.randint(0, n - width, (1,), generator=gen))
            out[b, start : start + width] = 0.0
    return out


class FrozenViews:
    """Stands in for the reference's SpecAugment: returns the saved views of the batch."""

    time_warp_factor = 0

    def __init__(self, original: torch.Tensor, views: torch.Tensor) -> None:
        self.original, self.views = original, views

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        assert torch.equal(x, self.original.repeat(2, 1, 1)), "unexpected input to SpecAugment"
        return self.views


def main() -> None:
    torch.manual_seed(0)
    module = import_reference("modules.model")
    model = module.AsrModel(
        **SHARED,
        **PRESETS["small"],
        chunk_size="-1",
        left_context_frames="-1",
        vocab_size=500,
        use_transducer=False,
        use_ctc=True,
        use_attention_decoder=True,
        sos_id=1,
        eos_id=1,
        ignore_id=-1,
        label_smoothing=0.1,
        **AED,
    ).eval()
    shapes = randomize(model)

    features, lengths = random_features(LENGTHS, seed=2)
    gen = torch.Generator().manual_seed(3)
    targets = [torch.randint(3, 500, (n,), generator=gen).tolist() for n in TARGET_LENGTHS]
    views = torch.cat([masked(features, lengths, gen), masked(features, lengths, gen)])
    # The time warp (before duplication) is the identity: the views already hold the masks.
    module.time_warp = lambda x, time_warp_factor, supervision_segments: x
    segments = torch.stack([torch.arange(3), torch.zeros(3, dtype=torch.int64), lengths], dim=1)
    with torch.no_grad():
        _, _, ctc, attention, cr = model(
            features,
            lengths,
            [list(t) for t in targets],
            use_cr_ctc=True,
            use_spec_aug=True,
            spec_augment=FrozenViews(features, views),
            supervision_segments=segments,
        )
        _, _, plain_ctc, plain_attention, _ = model(
            views[:3], lengths, [list(t) for t in targets], use_cr_ctc=False
        )
        enc, enc_lens = model.forward_encoder(views[:3], lengths)
        aed = model.attention_decoder
        ys_in, ys_in_lens, ys_out = aed._pre_ys_in_out(targets)
        log_probs = aed.decoder(ys_in, ys_in_lens, enc, enc_lens).log_softmax(dim=-1)
        # A hand-made n-best list: for each utterance, its target, the target without its last
        # token, and the target with its first token replaced; every hypothesis is scored
        # against its own utterance's encoder output.
        nbest = [[t, t[:-1], [(t[0] + 7) % 497 + 3, *t[1:]]] for t in targets]
        flat = [h for hyps in nbest for h in hyps]
        rows = torch.tensor([b for b, hyps in enumerate(nbest) for _ in hyps])
        nll = aed.nll(enc[rows], enc_lens[rows], flat)
        both, both_lens = model.forward_encoder(views, lengths.repeat(2))
    # The consistency term's value is symmetric in the two views; its gradient shows which side
    # is the (detached) target. On the first GRAD_FRAMES frames of both views' encoder output:
    leaf = both[:, :GRAD_FRAMES].clone().requires_grad_(True)
    short = both_lens.clamp(max=GRAD_FRAMES)
    flat_targets = torch.tensor([x for t in targets + targets for x in t])
    target_lengths = torch.tensor(TARGET_LENGTHS * 2)
    _, cr_short = model.forward_cr_ctc(leaf, short, flat_targets, target_lengths)
    cr_short.backward()
    fixture = {
        "shapes": shapes,
        "lengths": lengths,
        "views": views,
        "targets": targets,
        "cr_ctc_loss": ctc,
        "cr_loss": cr,
        "cr_attention_loss": attention,
        "ctc_loss": plain_ctc,
        "attention_loss": plain_attention,
        "encoder_out": enc,
        "encoder_out_lens": enc_lens,
        "aed_inputs": ys_in,
        "aed_targets": ys_out,
        "aed_log_probs": log_probs,
        "nbest": nbest,
        "nbest_scores": -nll.sum(dim=1),
        "cr_grad_encoder_out": leaf.detach(),
        "cr_grad_lengths": short,
        "cr_grad_loss": cr_short.detach(),
        "cr_grad": leaf.grad,
        "aed_config": AED,
        "reference": "zipformer==0.1.3 AsrModel (CTC + attention decoder), eval, float32",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fixture, OUT)
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size // 1024} KiB)")
    print({k: float(v) for k, v in fixture.items() if k.endswith("loss")})


if __name__ == "__main__":
    main()
