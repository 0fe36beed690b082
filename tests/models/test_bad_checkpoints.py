"""Damaged icefall checkpoints fail loudly, naming what is wrong in the file's own terms: a lost
last encoder stack, a transducer without its joiner, a missing tensor (issue 16)."""

from __future__ import annotations

import pytest
import torch

import zipasr
from zipasr.testing import random_state_dict

from ..conftest import FIXTURES


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    """A random S-sized transducer + CTC checkpoint (tests take filtered copies of it)."""
    fixture = torch.load(FIXTURES / "models" / "small_transducer_ctc.pt", weights_only=True)
    return random_state_dict(fixture["shapes"])


def without(state, prefix: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in state.items() if not k.startswith(prefix)}


def test_a_lost_last_stack_is_not_a_smaller_model(state):
    sd = without(state, "encoder.encoders.5.")
    with pytest.raises(ValueError, match=r"stack 4 at downsampling 4 .*encoder.encoders.5.\*"):
        zipasr.load_icefall(sd)
    with pytest.raises(ValueError, match="num_stacks=5"):
        zipasr.load_icefall_encoder(sd)
    with pytest.raises(ValueError, match=r"5 stacks .* not num_stacks=6: encoder.encoders.5"):
        zipasr.load_icefall(sd, num_stacks=6)
    # Who really has five stacks says so.
    model = zipasr.load_icefall(sd, num_stacks=5)
    assert model.config.encoder.num_stacks == 5
    # Lost from the middle (stack 3 of 6, at 1/8): the stacks are not contiguous.
    with pytest.raises(ValueError, match="non-contiguous"):
        zipasr.load_icefall(without(state, "encoder.encoders.3."))


def test_a_transducer_without_its_joiner(state):
    sd = without(state, "joiner.")
    with pytest.raises(ValueError, match=r"transducer decoder .* but no joiner") as error:
        zipasr.load_icefall(sd)
    assert not isinstance(error.value, KeyError)


def test_a_missing_tensor_is_named_as_the_file_names_it(state):
    sd = dict(state)
    name = "encoder.encoders.2.encoder.layers.1.conv_module2.out_proj.bias"
    del sd[name]
    with pytest.raises(ValueError, match=name.replace(".", r"\.")) as error:
        zipasr.load_icefall(sd)
    assert "stacks.2.layers.1" not in str(error.value)  # not zipasr's name
    with pytest.raises(KeyError, match=name.replace(".", r"\.")):
        zipasr.load_icefall_encoder(sd)
