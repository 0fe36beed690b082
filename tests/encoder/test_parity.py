"""Numerical parity with the reference (zipformer==0.1.3), from fixtures made by
tools/make_encoder_fixtures.py. The reference is not needed to run these tests."""

from __future__ import annotations

import pytest
import torch

import zipasr
from zipasr.convert import icefall
from zipasr.testing import random_state_dict

from ..conftest import FIXTURES

CASES = sorted(
    p.stem for p in (FIXTURES / "encoder").glob("*.pt") if p.stem.startswith(("small_", "medium_"))
)
TOLERANCE = 1e-4


def load(name: str) -> dict:
    return torch.load(FIXTURES / "encoder" / f"{name}.pt", weights_only=True)


def test_all_cases_present():
    for preset in ("small", "medium"):
        for case in ("full", "causal_c16_l64", "causal_c16_linf", "causal_full"):
            assert f"{preset}_{case}" in CASES


@pytest.mark.parametrize("path", ["batched", "blockwise"])
@pytest.mark.parametrize("case", CASES)
def test_encoder_output_matches_reference(case, path, request):
    """Both ways eval mode computes: the batched code and, as long inputs take it, the
    blockwise one (forced here at the fixtures' size)."""
    calls = request.getfixturevalue("blockwise_everywhere") if path == "blockwise" else None
    fixture, inputs = load(case), load("inputs")
    model = zipasr.load_icefall_encoder(random_state_dict(fixture["shapes"])).eval()
    assert model.config.causal == fixture["causal"]
    with torch.no_grad():
        out, lengths = model(
            inputs["features"],
            inputs["lengths"],
            chunk_frames=fixture["chunk_frames"],
            left_context_frames=fixture["left_context_frames"],
        )
    ref = fixture["output"]
    assert out.shape == ref.shape
    assert torch.equal(lengths, fixture["output_lengths"])
    for b, n in enumerate(lengths.tolist()):
        diff = (out[b, :n] - ref[b, :n]).abs().max().item()
        assert diff <= TOLERANCE, f"utterance {b}: max abs diff {diff:.3g}"
    if calls is not None:
        assert calls["attention"] > 0 and calls["convnext"] == 1


@pytest.mark.parametrize("case", ["small_full", "medium_causal_full"])
def test_parity_is_sensitive_to_parameters(case):
    """The fixture would catch a parameter that is ignored: perturbing one changes the output."""
    fixture, inputs = load(case), load("inputs")
    sd = random_state_dict(fixture["shapes"])
    key = "encoder.encoders.3.encoder.layers.1.bypass_mid.bypass_scale"
    sd[key] = sd[key] + 0.05
    model = zipasr.load_icefall_encoder(sd).eval()
    with torch.no_grad():
        out, _ = model(inputs["features"], inputs["lengths"])
    n = int(fixture["output_lengths"][0])
    assert (out[0, :n] - fixture["output"][0, :n]).abs().max() > 1e-3


@pytest.mark.parametrize("case", CASES)
def test_key_map_covers_every_reference_key(case):
    shapes = load(case)["shapes"]
    mapped = {}
    dead = []
    for key in shapes:
        ours = icefall.zipasr_key(key)
        if ours is None:
            dead.append(key)
        else:
            assert ours not in mapped.values(), f"two icefall keys map to {ours}"
            mapped[key] = ours
    assert dead and all(
        k.endswith(".bypass_scale")
        and "out_combiner" not in k
        and ".bypass." not in k
        and ".bypass_mid." not in k
        for k in dead
    )
    model = zipasr.load_icefall_encoder(random_state_dict(shapes))
    assert set(mapped.values()) == set(model.state_dict()), "keys left over on either side"
    assert {icefall.icefall_key(k) for k in model.state_dict()} == set(mapped)
    back = icefall.encoder_state_to_icefall(model.state_dict())
    assert set(back) == set(shapes)
    assert all(tuple(back[k].shape) == tuple(shapes[k]) for k in shapes)


def test_unknown_key_is_named():
    with pytest.raises(KeyError, match="encoder.encoders.1.encoder.layers.0.mystery"):
        icefall.zipasr_key("encoder.encoders.1.encoder.layers.0.mystery.weight")


def test_from_icefall_ignores_other_heads_and_ddp_prefix():
    shapes = load("small_full")["shapes"]
    sd = {"module." + k: v for k, v in random_state_dict(shapes).items()}
    sd["module.decoder.embedding.weight"] = torch.zeros(500, 512)
    sd["module.joiner.output_linear.bias"] = torch.zeros(500)
    model = zipasr.load_icefall_encoder(sd)
    assert model.config == zipasr.ZipformerConfig.small()


def test_from_icefall_rejects_missing_key():
    sd = random_state_dict(load("small_full")["shapes"])
    del sd["encoder.encoders.2.encoder.layers.1.conv_module2.out_proj.bias"]
    with pytest.raises(KeyError, match="conv2.out_proj.bias"):
        zipasr.load_icefall_encoder(sd)


@pytest.mark.parametrize("causal", [False, True])
def test_config_inferred_from_shapes(causal):
    for preset in (zipasr.ZipformerConfig.small, zipasr.ZipformerConfig.medium):
        config = preset(causal=causal)
        sd = icefall.encoder_state_to_icefall(zipasr.Zipformer(config).state_dict())
        assert icefall.encoder_config_from_icefall(sd) == config
