from __future__ import annotations

import torch
from torch import nn

from zipasr.train.averaging import ModelAverager


def test_average_is_the_mean_of_the_models_at_update_steps() -> None:
    model = nn.Linear(3, 2)
    averager = ModelAverager(model, period=2, start_step=4)
    seen = []
    for step in range(1, 11):
        with torch.no_grad():
            model.weight.add_(float(step))
        if averager.due(step):
            averager.update(model, step)
            seen.append(model.weight.detach().clone())
    assert len(seen) == 3  # steps 6, 8, 10
    expected = torch.stack(seen).double().mean(0)
    torch.testing.assert_close(averager.state_dict()["weight"], expected)
    averaged = averager.averaged(model)
    assert averaged.weight.dtype == torch.float32
    torch.testing.assert_close(averaged.weight, expected.float())
