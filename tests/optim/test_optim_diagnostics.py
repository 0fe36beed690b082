"""dominant_gradients: finds the dominating parameter, changes nothing, never raises."""

from __future__ import annotations

import torch
from torch import nn

from zipasr.optim import ScaledAdam, dominant_gradients


def trained(steps: int = 5) -> tuple[nn.Module, ScaledAdam]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    optimizer = ScaledAdam(model.named_parameters(), clipping_scale=2.0)
    for _ in range(steps):
        optimizer.zero_grad()
        model(torch.randn(32, 8)).pow(2).mean().backward()
        optimizer.step()
    return model, optimizer


def test_reports_the_parameter_with_the_outsized_gradient():
    model, optimizer = trained()
    optimizer.zero_grad()
    model(torch.randn(32, 8)).pow(2).mean().backward()
    model[2].bias.grad *= 1e4
    report = dominant_gradients(optimizer, top_k=3)
    assert report.error is None
    assert report.shares[0].name == "2.bias"
    assert report.shares[0].share > 0.99
    assert report.shares[0].grad_ratio is not None and report.shares[0].grad_ratio > 100
    assert len(report.shares) == 3
    assert "2.bias" in str(report)


def test_changes_neither_state_nor_gradients():
    model, optimizer = trained()
    model(torch.randn(32, 8)).pow(2).mean().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    state = {k: v.clone() for k, v in optimizer.state[model[0].bias].items() if torch.is_tensor(v)}
    dominant_gradients(optimizer)
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters(), strict=True))
    for key, value in state.items():
        assert torch.equal(optimizer.state[model[0].bias][key], value)


def test_works_before_the_first_step_and_with_missing_grads():
    model = nn.Linear(4, 2)
    optimizer = ScaledAdam(model.parameters())
    report = dominant_gradients(optimizer)
    assert report.error is None and report.total_norm == 0.0
    model(torch.randn(3, 4)).sum().backward()
    report = dominant_gradients(optimizer)
    assert report.shares[0].grad_ratio is None and report.total_norm > 0


def test_never_raises():
    model, optimizer = trained()
    optimizer.state[model[0].weight]["param_rms"] = "corrupted"
    model(torch.randn(32, 8)).pow(2).mean().backward()
    report = dominant_gradients(optimizer)
    assert report.error is not None and "unavailable" in str(report)
    assert dominant_gradients(object()).error is not None  # type: ignore[arg-type]
