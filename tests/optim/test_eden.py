"""Eden: the recipe's learning rates, icefall's interface and state layout."""

from __future__ import annotations

import pytest
import torch

from zipasr.optim import Eden, ScaledAdam


def make_scheduler(**kwargs) -> tuple[ScaledAdam, Eden]:
    optimizer = ScaledAdam([torch.nn.Parameter(torch.ones(3))], lr=0.045)
    options = dict(lr_batches=7500, lr_epochs=3.5, warmup_start=0.1) | kwargs
    return optimizer, Eden(optimizer, **options)


def test_first_recipe_update_uses_batch_1_epoch_0():
    optimizer, scheduler = make_scheduler()
    scheduler.step_epoch(0)
    scheduler.step_batch(1)
    expected = 0.045 * ((1 + 7500**2) / 7500**2) ** -0.25 * (0.1 + 0.9 / 500)
    assert scheduler.get_last_lr() == [pytest.approx(expected, rel=1e-15)]
    assert optimizer.param_groups[0]["lr"] == scheduler.get_last_lr()[0]
    assert abs(expected - 0.004581) < 1e-6


def test_formula_after_warmup_and_epochs():
    _, scheduler = make_scheduler()
    scheduler.step_epoch(7)
    scheduler.step_batch(15000)
    batch_factor = ((15000**2 + 7500**2) / 7500**2) ** -0.25
    epoch_factor = ((49 + 3.5**2) / 3.5**2) ** -0.25
    assert scheduler.get_last_lr()[0] == pytest.approx(0.045 * batch_factor * epoch_factor)


def test_step_without_argument_counts_up():
    _, scheduler = make_scheduler()
    for _ in range(3):
        scheduler.step_batch()
    scheduler.step_epoch()
    assert (scheduler.batch, scheduler.epoch) == (3, 1)


def test_lr_is_untouched_until_the_first_step():
    optimizer, scheduler = make_scheduler()
    assert scheduler.get_last_lr() == [0.045]
    assert optimizer.param_groups[0]["base_lr"] == 0.045


def test_state_dict_round_trip():
    _, scheduler = make_scheduler()
    scheduler.step_epoch(2)
    scheduler.step_batch(1234)
    state = scheduler.state_dict()
    assert state == {"epoch": 2, "batch": 1234}

    _, restored = make_scheduler()
    restored.load_state_dict(state | {"base_lrs": [1.0]})  # old icefall checkpoints have this
    restored.step_batch(1235)
    scheduler.step_batch(1235)
    assert restored.get_last_lr() == scheduler.get_last_lr()
    assert restored.base_lrs == [0.045]


def test_groups_keep_their_own_base_lr():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2, 2))
    optimizer = ScaledAdam([{"params": [a], "lr": 0.04}, {"params": [b], "lr": 0.02}])
    scheduler = Eden(optimizer, lr_batches=100, lr_epochs=2)
    scheduler.step_batch(600)
    first, second = scheduler.get_last_lr()
    assert first == pytest.approx(2 * second, rel=1e-15)


@pytest.mark.parametrize(
    ("option", "value"),
    [("lr_batches", 0), ("lr_epochs", -1.0), ("warmup_batches", -5), ("warmup_start", 1.5)],
)
def test_invalid_options_are_rejected_by_name(option, value):
    with pytest.raises(ValueError, match=rf"{option}=.* is invalid"):
        make_scheduler(**{option: value})


def test_load_state_dict_names_missing_keys():
    _, scheduler = make_scheduler()
    with pytest.raises(ValueError, match=r"missing keys \['batch'\]"):
        scheduler.load_state_dict({"epoch": 1})
