"""The training clock: one method, called the same way by the trainer and by a loop of yours."""

from __future__ import annotations

import pytest
import torch

from zipasr import AsrModel, AsrModelConfig, TransducerConfig
from zipasr.data import collate
from zipasr.optim import Eden, ScaledAdam
from zipasr.schedule import TrainingClock
from zipasr.testing import random_features, tiny_config
from zipasr.train.config import LossConfig
from zipasr.train.precision import Precision
from zipasr.train.step import Learner


def test_set_step_counts_the_audio_of_the_steps_taken() -> None:
    clock = TrainingClock()
    clock.set_step(0, max_duration_s=1000.0)
    assert clock.ref_batches == 0.0  # the first batch trains at time 0
    clock.set_step(3, max_duration_s=100.0, accum_grad=2, world_size=4, ref_duration_s=50.0)
    assert clock.ref_batches == 3 * 100 * 2 * 4 / 50
    clock.set_step(30, max_duration_s=1000.0, world_size=2)
    assert clock.ref_batches == 100.0  # the recipe's 600 s reference batch by default
    with pytest.raises(ValueError, match="accum_grad=0"):
        clock.set_step(1, max_duration_s=1.0, accum_grad=0)
    with pytest.raises(ValueError, match="ref_duration_s=0"):
        clock.set_step(1, max_duration_s=1.0, ref_duration_s=0)


def test_learner_sets_the_clock_through_set_step() -> None:
    torch.manual_seed(0)
    config = AsrModelConfig(tiny_config(causal=True), 32, TransducerConfig(16, 16), ctc=True)
    model = AsrModel(config)
    optimizer = ScaledAdam(model.named_parameters(), lr=0.045, clipping_scale=2.0)
    learner = Learner(
        model=model,
        optimizer=optimizer,
        scheduler=Eden(optimizer, 100.0, 3.5),
        precision=Precision(None, None),
        device=torch.device("cpu"),
        loss=LossConfig(),
        max_duration_s=4.0,
        world_size=3,  # as if: the loss is scaled by it, the clock counts it
        ref_duration_s=10.0,
    )
    feats, _ = random_features([120, 100])
    batch = collate([feats[0, :120], feats[1, :100]], [[3, 4, 5], [6, 7]], ["a", "b"], ["1", "2"])
    learner.step([batch, batch], 5, (None, None))
    expected = TrainingClock()
    expected.set_step(4, max_duration_s=4.0, accum_grad=2, world_size=3, ref_duration_s=10.0)
    assert model.clock.ref_batches == expected.ref_batches == 4 * 4.0 * 2 * 3 / 10.0
