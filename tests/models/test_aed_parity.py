"""CR-CTC and the attention decoder against the reference (zipformer==0.1.3): an S-sized CTC +
attention-decoder model, randomised, loads strictly with load_icefall and gives the reference's
losses (with CR-CTC on frozen views, and without) and attention-decoder log-probabilities.
Fixture: tools/make_aed_fixtures.py."""

from __future__ import annotations

import pytest
import torch

import zipasr
from zipasr.convert import icefall
from zipasr.testing import random_state_dict

from ..conftest import FIXTURES

LOSS_RTOL = 1e-5
LOG_PROB_TOL = 1e-4


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURES / "models" / "small_ctc_aed.pt", weights_only=True)


@pytest.fixture(scope="module")
def model(fixture):
    return zipasr.load_icefall(random_state_dict(fixture["shapes"]))


def test_architecture_is_inferred(model, fixture):
    config = model.config
    assert config.encoder == zipasr.ZipformerConfig.small()
    assert config.transducer is None and config.ctc
    aed = fixture["aed_config"]
    assert config.attention_decoder == zipasr.models.AttentionDecoderConfig(
        dim=aed["attention_decoder_dim"],
        num_layers=aed["attention_decoder_num_layers"],
        attention_dim=aed["attention_decoder_attention_dim"],
        num_heads=aed["attention_decoder_num_heads"],
        feedforward_dim=aed["attention_decoder_feedforward_dim"],
    )


def test_every_attention_decoder_key_maps_and_back(model, fixture):
    shapes = fixture["shapes"]
    assert any(k.startswith("attention_decoder.") for k in shapes)
    assert {icefall.model_key(k) for k in shapes} - {None} == set(model.state_dict())
    assert set(icefall.model_state_to_icefall(model.state_dict())) == set(shapes)


def test_cr_ctc_losses_match_reference(model, fixture):
    """Both views through the encoder, CTC over both, the consistency term and the attention
    decoder's loss, each halved: the reference's forward(use_cr_ctc=True) on the same views."""
    views, lengths = fixture["views"], fixture["lengths"]
    with torch.no_grad():
        losses = model(views, lengths.repeat(2), fixture["targets"], cr_ctc=True)
    for ours, ref in (
        (losses.ctc, "cr_ctc_loss"),
        (losses.cr_ctc, "cr_loss"),
        (losses.attention, "cr_attention_loss"),
    ):
        assert ours is not None
        assert ours.item() == pytest.approx(fixture[ref].item(), rel=LOSS_RTOL), ref
    assert losses.simple is None and losses.pruned is None


def test_plain_losses_match_reference(model, fixture):
    with torch.no_grad():
        losses = model(fixture["views"][:3], fixture["lengths"], fixture["targets"])
    assert losses.cr_ctc is None
    assert losses.ctc.item() == pytest.approx(fixture["ctc_loss"].item(), rel=LOSS_RTOL)
    assert losses.attention.item() == pytest.approx(fixture["attention_loss"].item(), rel=LOSS_RTOL)


def test_attention_decoder_log_probs_match_reference(model, fixture):
    """On the reference's encoder output, so that this checks the decoder alone."""
    aed = model.attention_decoder
    enc, enc_lens = fixture["encoder_out"], fixture["encoder_out_lens"]
    inputs, lengths, targets = aed.inputs_and_targets(fixture["targets"])
    assert torch.equal(inputs, fixture["aed_inputs"])
    assert torch.equal(targets, fixture["aed_targets"])
    with torch.no_grad():
        ours = aed.log_probs(enc, enc_lens, fixture["targets"])
        ref = fixture["aed_log_probs"]
        for b, n in enumerate(lengths.tolist()):
            assert (ours[b, :n] - ref[b, :n]).abs().max().item() <= LOG_PROB_TOL
        nbest = fixture["nbest"]
        rows = torch.tensor([b for b, hyps in enumerate(nbest) for _ in hyps])
        flat = [h for hyps in nbest for h in hyps]
        scores = aed.sequence_scores(enc[rows], enc_lens[rows], flat)
    torch.testing.assert_close(scores, fixture["nbest_scores"], rtol=1e-5, atol=LOG_PROB_TOL)


def test_our_encoder_feeds_the_decoder_as_the_reference_does(model, fixture):
    with torch.no_grad():
        enc, enc_lens = model.encode(fixture["views"][:3], fixture["lengths"])
    assert torch.equal(enc_lens, fixture["encoder_out_lens"])
    for b, n in enumerate(enc_lens.tolist()):
        assert (enc[b, :n] - fixture["encoder_out"][b, :n]).abs().max().item() <= LOG_PROB_TOL


def test_all_heads_load_strictly_and_round_trip(fixture, tmp_path):
    """Transducer + CTC + attention decoder in one icefall-layout checkpoint: every key is
    used, nothing is ignored, and zipasr.save / zipasr.load keep every head."""
    transducer = torch.load(FIXTURES / "models" / "small_transducer_ctc.pt", weights_only=True)[
        "shapes"
    ]
    shapes = {**transducer, **fixture["shapes"]}
    assert any(k.startswith("joiner.") for k in shapes)
    state = random_state_dict(shapes)
    torch.save({"model": state}, tmp_path / "pretrained.pt")
    model = zipasr.load(tmp_path / "pretrained.pt")
    assert model.transducer is not None and model.ctc is not None
    assert model.attention_decoder is not None
    assert set(icefall.model_state_to_icefall(model.state_dict())) == set(shapes)
    key = "attention_decoder.decoder.layers.1.src_attn.linear_v.weight"
    ours = icefall.model_key(key)
    assert torch.equal(model.state_dict()[ours], state[key])

    zipasr.save(model, tmp_path / "saved")
    again = zipasr.load(tmp_path / "saved")
    assert again.config == model.config
    for name, value in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], value), name
    back = icefall.model_state_to_icefall(again.state_dict())
    assert torch.equal(back[key], state[key])


def test_leaving_the_attention_decoder_out(fixture):
    model = zipasr.load_icefall(
        random_state_dict(fixture["shapes"]), ignore_prefixes=("attention_decoder.",)
    )
    assert model.attention_decoder is None and model.config.attention_decoder is None


def test_head_count_is_taken_as_given(fixture):
    sd = random_state_dict(fixture["shapes"])
    model = zipasr.load_icefall(sd, attention_decoder_num_heads=4)
    assert model.config.attention_decoder.num_heads == 4
    with pytest.raises(ValueError, match="attention_decoder_num_heads=5"):
        zipasr.load_icefall(sd, attention_decoder_num_heads=5)


def test_consistency_gradient_matches_reference(model, fixture):
    """The term's value is symmetric in the views; its gradient tells which side is the
    detached target, so it is compared too (on the first frames of both views)."""
    from zipasr.losses import cr_ctc_consistency

    leaf = fixture["cr_grad_encoder_out"].clone().requires_grad_(True)
    value = cr_ctc_consistency(model.ctc_log_probs(leaf), fixture["cr_grad_lengths"])
    value.backward()
    assert value.item() == pytest.approx(fixture["cr_grad_loss"].item(), rel=LOSS_RTOL)
    torch.testing.assert_close(leaf.grad, fixture["cr_grad"], rtol=1e-4, atol=1e-6)
