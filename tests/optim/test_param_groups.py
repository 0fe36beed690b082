"""Per-module lr_scale groups equal icefall's get_parameter_groups_with_lrs."""

from __future__ import annotations

import torch
from torch import nn

from zipasr.optim import ScaledAdam, lr_scaled_param_groups


def nested_model() -> nn.Module:
    """The model the fixture tool gave to the reference helper (same construction)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)))
    model.lr_scale = 0.9
    model[1].lr_scale = 0.5
    model[1][0].lr_scale = 0.3
    return model


def test_groups_and_rates_equal_the_reference(reference):
    groups = lr_scaled_param_groups(nested_model(), lr=0.045)
    ours = [(g["lr"], [name for name, _ in g["params"]]) for g in groups]
    assert ours == reference["lr_scale_groups"]  # rates bit-identical, same order


def test_without_lr_scale_there_is_one_group_at_the_base_rate():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    groups = lr_scaled_param_groups(model, lr=0.045, include_names=False)
    assert len(groups) == 1 and groups[0]["lr"] == 0.045
    assert groups[0]["params"] == list(model.parameters())


def test_frozen_top_level_modules_are_left_out_also_under_ddp_prefix():
    model = nested_model()
    wrapper = nn.Module()
    wrapper.module = model  # what DistributedDataParallel looks like by name
    for m in (model, wrapper):
        groups = lr_scaled_param_groups(m, lr=0.045, freeze_modules=["1"])
        names = [name for g in groups for name, _ in g["params"]]
        assert names and all(".1." not in f".{n}" for n in names), names


def test_groups_feed_scaled_adam_with_names(reference):
    optimizer = ScaledAdam(lr_scaled_param_groups(nested_model(), lr=0.045))
    assert [g["lr"] for g in optimizer.param_groups] == [
        lr for lr, _ in reference["lr_scale_groups"]
    ]
    assert optimizer.param_groups[0]["param_names"] == ["0.weight", "0.bias"]
