"""A whole icefall model (transducer + CTC, S-sized, randomised) loads with load_icefall and
computes what the reference computes. Fixture: tools/make_model_fixtures.py."""

from __future__ import annotations

import pytest
import torch

import zipasr
from zipasr.convert import icefall
from zipasr.testing import random_state_dict

from ..conftest import FIXTURES

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def fixture():
    return torch.load(FIXTURES / "models" / "small_transducer_ctc.pt", weights_only=True)


@pytest.fixture(scope="module")
def model(fixture):
    return zipasr.load_icefall(random_state_dict(fixture["shapes"]))


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a - b).abs().max().item()


def test_architecture_is_inferred(model):
    config = model.config
    assert config.encoder == zipasr.ZipformerConfig.small()
    assert config.vocab_size == 500 and config.ctc
    assert config.transducer == zipasr.TransducerConfig(512, 512, 2)
    assert not model.training


def test_outputs_match_reference(model, fixture):
    with torch.no_grad():
        enc, enc_lens = model.encode(fixture["features"], fixture["lengths"])
        assert torch.equal(enc_lens, fixture["encoder_out_lens"])
        for b, n in enumerate(enc_lens.tolist()):
            assert max_diff(enc[b, :n], fixture["encoder_out"][b, :n]) <= TOLERANCE
        dec = model.predict(fixture["decoder_in"])
        assert max_diff(dec, fixture["decoder_out"]) <= TOLERANCE
        logits_ref = fixture["joiner_logits_utt0"]
        logits = model.join(enc[0, : logits_ref.shape[0], None], dec[0, None])
        assert max_diff(logits, logits_ref) <= TOLERANCE
        ctc_ref = fixture["ctc_log_probs"]
        ctc = model.ctc_log_probs(enc)[:, : ctc_ref.shape[1]]
        for b, n in enumerate(enc_lens.tolist()):
            assert max_diff(ctc[b, :n], ctc_ref[b, :n]) <= TOLERANCE


def test_every_key_maps_and_back(fixture, model):
    shapes = fixture["shapes"]
    ours = {icefall.model_key(k) for k in shapes} - {None}
    assert ours == set(model.state_dict())
    back = icefall.model_state_to_icefall(model.state_dict())
    assert set(back) == set(shapes)


def test_unknown_key_is_named(fixture):
    sd = random_state_dict(fixture["shapes"])
    sd["lm_head.output.weight"] = torch.zeros(3, 3)
    with pytest.raises(KeyError, match="lm_head.output.weight"):
        zipasr.load_icefall(sd)
    zipasr.load_icefall(sd, ignore_prefixes=("lm_head.",))


def test_missing_key_is_named_as_in_the_file(fixture):
    sd = random_state_dict(fixture["shapes"])
    del sd["joiner.output_linear.bias"]
    with pytest.raises(KeyError, match=r"\['joiner.output_linear.bias'\]") as error:
        zipasr.load_icefall(sd)
    assert "transducer." not in str(error.value)  # icefall's name, not zipasr's
    assert isinstance(error.value, ValueError)  # a bad input to the CLI, not an internal error


def test_checkpoint_files(fixture, tmp_path):
    sd = random_state_dict(fixture["shapes"])
    torch.save({"model": sd}, tmp_path / "pretrained.pt")
    averaged = {k: v + 1.0 for k, v in sd.items()}
    torch.save(
        {"model": sd, "model_avg": averaged, "batch_idx_train": 8000, "optimizer": {}},
        tmp_path / "epoch-3.pt",
    )
    a = zipasr.load_icefall(tmp_path / "pretrained.pt")
    b = zipasr.load_icefall(tmp_path / "epoch-3.pt")
    c = zipasr.load_icefall(tmp_path / "epoch-3.pt", averaged=True)
    key = "transducer.joiner.output_linear.bias"
    assert torch.equal(a.state_dict()[key], b.state_dict()[key])
    assert torch.equal(c.state_dict()[key], a.state_dict()[key] + 1.0)
    with pytest.raises(ValueError, match="model_avg"):
        zipasr.load_icefall(tmp_path / "pretrained.pt", averaged=True)


def test_overrides_and_tokens(fixture):
    sd = random_state_dict(fixture["shapes"])
    tokens = [f"t{i}" for i in range(500)]
    model = zipasr.load_icefall(sd, tokens=tokens)
    assert model.tokens == tokens
    with pytest.raises(ValueError, match="token table has 3"):
        zipasr.load_icefall(sd, tokens=["a", "b", "c"])


def test_losses_match_reference(model, fixture):
    """Simple and pruned transducer losses (k2's values, via fast_rnnt) and the CTC loss."""
    assert fixture["losses_from"].startswith("fast_rnnt")
    with torch.no_grad():
        losses = model(fixture["features"], fixture["lengths"], fixture["targets"])
    for name, ref in (("simple", "simple_loss"), ("pruned", "pruned_loss"), ("ctc", "ctc_loss")):
        ours = getattr(losses, name)
        assert ours is not None
        assert ours.item() == pytest.approx(fixture[ref].item(), rel=1e-5), name
    assert losses.num_frames == int(fixture["encoder_out_lens"].sum())


def test_too_many_tokens_is_rejected_before_the_loss(model, fixture):
    targets = [list(t) for t in fixture["targets"]]
    targets[2] = list(range(3, 3 + 40))  # utterance 2 has 23 encoder frames
    with pytest.raises(ValueError, match="2"):
        model(fixture["features"], fixture["lengths"], targets)
