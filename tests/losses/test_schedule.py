"""The recipe's loss-scale warm-up (spec 6.7)."""

from __future__ import annotations

import pytest
import torch

from zipasr.losses import LossScales, LossWeights


def test_warm_up_values():
    weights = LossWeights()
    assert weights.at(0) == LossScales(1.0, 0.1, 0.2, cr_ctc=0.2, attention=0.8)
    half = weights.at(1000)
    assert half.simple == pytest.approx(0.75) and half.pruned == pytest.approx(0.55)
    for step in (2000, 10**6):
        assert weights.at(step) == LossScales(0.5, 1.0, 0.2, cr_ctc=0.2, attention=0.8)


def test_custom_weights_and_errors():
    weights = LossWeights(simple_loss_scale=0.3, warm_step=10)
    assert weights.at(10).simple == 0.3
    assert weights.at(5).simple == pytest.approx(0.65)
    with pytest.raises(ValueError, match="warm_step=0 must be >= 1"):
        LossWeights(warm_step=0)
    with pytest.raises(ValueError, match="step=-1 must be >= 0"):
        weights.at(-1)


def test_total_adds_the_losses_a_model_has():
    scales = LossScales(simple=0.5, pruned=1.0, ctc=0.2)
    simple, pruned, ctc = torch.tensor(4.0), torch.tensor(3.0), torch.tensor(10.0)
    assert scales.total(simple, pruned, ctc) == 0.5 * 4 + 3 + 0.2 * 10
    assert scales.total(simple, pruned, None) == 5.0  # transducer only
    assert scales.total(None, None, ctc) == 2.0  # CTC only
    with pytest.raises(ValueError, match="at least one head"):
        scales.total(None, None, None)
