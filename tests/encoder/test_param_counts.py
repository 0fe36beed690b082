"""Parameter counts of the presets equal the reference's (icefall RESULTS.md)."""

from __future__ import annotations

import pytest
import torch

import zipasr
from zipasr.convert import icefall

# icefall RESULTS.md / the spec's instantiation of the reference (transducer, BPE 500,
# decoder and joiner dims 512, context 2).
TRANSDUCER_PARAMS = {
    ("small", False): 23_285_615,
    ("medium", False): 65_549_011,
    ("large", False): 148_439_574,
    ("small", True): 23_627_887,
    ("medium", True): 66_110_931,
    ("large", True): 149_281_046,
}
# The encoder alone (front end + stacks), ours; printed in the README.
ENCODER_PARAMS = {
    ("small", False): 21_986_835,
    ("medium", False): 63_988_343,
    ("large", False): 146_616_250,
}


def build(preset: str, causal: bool) -> zipasr.Zipformer:
    with torch.device("meta"):
        return zipasr.Zipformer(getattr(zipasr.ZipformerConfig, preset)(causal=causal))


@pytest.mark.parametrize("preset,causal", sorted(TRANSDUCER_PARAMS))
def test_transducer_parameter_count_matches_icefall(preset, causal):
    config = getattr(zipasr.ZipformerConfig, preset)(causal=causal)
    with torch.device("meta"):
        model = zipasr.AsrModel(zipasr.AsrModelConfig(config, vocab_size=500))
    ours = model.num_parameters()
    # icefall also counts a per-layer bypass_scale that its forward never uses; zipasr drops
    # it (convert.icefall.DEAD_KEYS). Count it back from the state_dict we would write.
    theirs = sum(v.numel() for v in icefall.model_state_to_icefall(model.state_dict()).values())
    assert theirs - ours == sum(d * n for d, n in zip(config.dims, config.num_layers))
    assert theirs == TRANSDUCER_PARAMS[preset, causal]


@pytest.mark.parametrize("preset,causal", sorted(ENCODER_PARAMS))
def test_encoder_parameter_count(preset, causal):
    model = build(preset, causal)
    assert sum(p.numel() for p in model.parameters()) == ENCODER_PARAMS[preset, causal]
    assert sum(p.numel() for p in model.embed.parameters()) == 611_953
