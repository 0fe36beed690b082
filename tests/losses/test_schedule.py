"""The recipe's loss-scale warm-up (spec 6.7)."""

from __future__ import annotations

import pytest

from zipasr.losses import LossScales, LossWeights


def test_warm_up_values():
    weights = LossWeights()
    assert weights.at(0) == LossScales(1.0, 0.1, 0.2, 0.0, 0.8)
    half = weights.at(1000)
    assert half.simple == pytest.approx(0.75) and half.pruned == pytest.approx(0.55)
    assert half.consistency == pytest.approx(0.1)
    for batch_idx in (2000, 10**6):
        assert weights.at(batch_idx) == LossScales(0.5, 1.0, 0.2, 0.2, 0.8)


def test_custom_weights_and_errors():
    weights = LossWeights(simple_loss_scale=0.3, warm_step=10)
    assert weights.at(10).simple == 0.3
    assert weights.at(5).simple == pytest.approx(0.65)
    with pytest.raises(ValueError, match="warm_step=0 must be >= 1"):
        LossWeights(warm_step=0)
    with pytest.raises(ValueError, match="batch_idx=-1 must be >= 0"):
        weights.at(-1)
