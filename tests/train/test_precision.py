from __future__ import annotations

import pytest
import torch

from zipasr import AsrModel, AsrModelConfig, TransducerConfig
from zipasr.data import collate
from zipasr.optim import Eden, ScaledAdam
from zipasr.testing import random_features, tiny_config
from zipasr.train.config import LossConfig
from zipasr.train.precision import (
    MIN_SCALE,
    check_grad_scale,
    resolve_precision,
)
from zipasr.train.step import Learner

CPU = torch.device("cpu")


def test_cpu_defaults_to_fp32_and_fp16_needs_a_gpu() -> None:
    assert resolve_precision("auto", CPU).dtype is None
    assert resolve_precision("bf16", CPU).dtype is torch.bfloat16
    with pytest.raises(ValueError, match="precision=fp16 needs a CUDA GPU"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ValueError, match="choose auto, fp32, bf16 or fp16"):
        resolve_precision("fp8", CPU)


def test_collapsed_grad_scale_stops_with_advice(caplog) -> None:
    check_grad_scale(1.0, step=10)
    check_grad_scale(0.005, step=11)
    assert "grad scale is small" in caplog.text
    with pytest.raises(RuntimeError, match=r"collapsed .* at step 12.*precision=bf16"):
        check_grad_scale(MIN_SCALE / 2, step=12)


def test_bf16_autocast_step_on_cpu() -> None:
    torch.manual_seed(0)
    config = AsrModelConfig(tiny_config(causal=True), 32, TransducerConfig(16, 16), ctc=True)
    model = AsrModel(config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = ScaledAdam(model.named_parameters(), lr=0.045, clipping_scale=2.0)
    learner = Learner(
        model=model,
        optimizer=optimizer,
        scheduler=Eden(optimizer, 100.0, 3.5),
        precision=resolve_precision("bf16", CPU),
        device=CPU,
        loss=LossConfig(),
        max_duration_s=4.0,
    )
    feats, _ = random_features([200, 150])
    batch = collate([feats[0, :200], feats[1, :150]], [[3, 4, 5], [6, 7]], ["a", "b"], ["1", "2"])
    stats = learner.step([batch], 1, (32, 64))
    assert torch.isfinite(torch.tensor(stats.loss)) and stats.frames > 0
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
