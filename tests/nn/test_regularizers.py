"""Training-only modules: identity in eval, active in training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from zipasr.regularizers import (
    AbsValuePenalty,
    Balancer,
    ConstantAttention,
    FeatureMask,
    LayerSkip,
    ParamLimit,
    RandomDrop,
    ScaleGrad,
    SequenceDropout,
    SharedDropout,
    Whiten,
    load_training_state,
    training_state,
)
from zipasr.regularizers.balancer import _BalancerFunction
from zipasr.schedule import TrainingClock


def all_modules():
    return [
        Balancer(8, -1, prob=1.0),
        Whiten(1, 1.0, prob=(1.0, 1.0)),
        ScaleGrad(0.2),
        ParamLimit(-0.1, 0.1, prob=1.0),
        AbsValuePenalty(0.1, 1.0, prob=1.0),
        SharedDropout(0.5, 0),
        SequenceDropout(0.5),
        RandomDrop(1.0),
        ConstantAttention(1.0),
        FeatureMask((4,), (8,)),
    ]


def test_identity_in_eval():
    # Calling a module in eval skips its forward (TrainingOnly.__call__), so the contract is
    # checked on forward itself too: that is what the shortcut relies on.
    x = torch.randn(5, 3, 8).softmax(-1).requires_grad_(True)
    for module in all_modules():
        assert module.eval()(x) is x, type(module).__name__
        assert module.forward(x) is x, type(module).__name__
    assert LayerSkip(1.0).eval()(x, 3) is x
    assert LayerSkip(1.0).eval().forward(x, 3) is x
    mask = torch.zeros(1, 3, 8)
    assert FeatureMask((4,), (8,)).eval().forward(x, mask) is x


def test_forward_is_identity_but_gradient_changes_in_training():
    big = (torch.randn(50, 8) * 3 + 2).requires_grad_(True)
    tiny = (torch.randn(50, 8) * 0.01).requires_grad_(True)  # rms below Balancer's min_abs
    for module, x in (
        (Balancer(8, -1, prob=1.0), tiny),
        (Whiten(1, 1.0, prob=(1.0, 1.0)), big),
        (ScaleGrad(0.2), big),
        (AbsValuePenalty(0.1, 1.0, prob=1.0), big),
        (ParamLimit(-0.1, 0.1, prob=1.0), big),
    ):
        module.train()
        y = module(x)
        assert torch.equal(y, x)
        (g,) = torch.autograd.grad((y * torch.linspace(-1, 1, 8)).sum(), x)
        assert not torch.allclose(g, torch.linspace(-1, 1, 8).expand(50, 8)), type(module).__name__


def test_dropouts_act_in_training():
    x = torch.ones(6, 40, 8)
    shared = SharedDropout(0.5, 0).train()(x)
    assert torch.equal(shared[0], shared[5]) and set(shared.unique().tolist()) <= {0.0, 2.0}
    seq = SequenceDropout(0.5).train()(x)
    assert set(seq.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(RandomDrop(1.0).train()(x), torch.zeros_like(x))
    skip = LayerSkip(0.5).train()(torch.full((8,), 0.5), 40)
    assert skip.shape == (40, 8) and set(skip.unique().tolist()) == {0.0, 0.5}


def test_schedules_follow_the_shared_clock():
    clock = TrainingClock()
    from zipasr.schedule import Schedule

    drop = SharedDropout(Schedule((0.0, 1.0), (100.0, 0.0)), 0, clock).train()
    x = torch.ones(4, 10, 3)
    assert torch.equal(drop(x), torch.zeros_like(x))
    clock.ref_batches = 100.0
    assert torch.equal(drop(x), x)


def test_training_state_round_trips_what_whiten_adapted():
    """Whiten's adaptive probability is not in the state_dict; training_state carries it."""

    def model() -> nn.Module:
        return nn.Sequential(nn.Linear(8, 8), Whiten(1, 1.0, prob=(0.1, 0.9)), Balancer(8, -1))

    torch.manual_seed(0)  # Whiten's coin flips draw from torch's global RNG
    trained = model().train()
    x = (torch.randn(50, 8) @ torch.ones(8, 8)).requires_grad_(True)  # correlated: over the limit
    for _ in range(50):  # the coin flip lets Whiten act at least once
        trained(x).sum().backward()
    state = training_state(trained)
    assert state == {"1": {"prob": 0.9}}  # raised while the limit is violated
    fresh = model()
    assert training_state(fresh) == {"1": {"prob": 0.1}}
    load_training_state(fresh, state)
    assert training_state(fresh) == state
    assert set(fresh.state_dict()) == set(trained.state_dict())  # no new state_dict keys
    with pytest.raises(ValueError, match="no training-only module of that name"):
        load_training_state(fresh, {"0": {"prob": 0.5}})
    with pytest.raises(ValueError, match="Balancer keeps no training state"):
        load_training_state(fresh, {"2": {"prob": 0.5}})


BALANCER_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "regularizers" / "balancer.pt"
BALANCER_CASES = (
    "mean_high", "mean_low", "rms_low", "rms_high", "mixed", "within", "channels_axis1", "float16"
)  # fmt: skip


def _balancer_cases() -> dict[str, dict]:
    return {c["name"]: c for c in torch.load(BALANCER_FIXTURE, weights_only=True)["cases"]}


def test_every_balancer_fixture_case_is_tested():
    assert set(_balancer_cases()) == set(BALANCER_CASES)


@pytest.mark.parametrize("name", BALANCER_CASES)
def test_balancer_gradient_matches_the_reference(name):
    """The gradient Balancer returns, against the reference's BalancerFunction
    (tools/make_regularizer_fixtures.py): limits on mean/stddev and rms broken either way,
    none broken (gradient unchanged), channels on axis 1 of a channels-last input, and float16
    input and gradient."""
    case = _balancer_cases()[name]
    x = case["x"].clone().requires_grad_(True)
    y = _BalancerFunction.apply(x, tuple(case["limits"]), case["dim"])
    (ours,) = torch.autograd.grad(y, x, case["grad"])
    assert ours.dtype == case["grad"].dtype
    if name == "within":
        assert torch.equal(ours, case["grad"])
        return
    assert not torch.allclose(case["out"], case["grad"])  # the case does edit the gradient
    # float32: the same sums in another order (measured 1e-7 to 1e-6 on gradients near 3);
    # float16: within one unit in the last place.
    tol = 1e-3 if ours.dtype == torch.float16 else 1e-6
    torch.testing.assert_close(ours, case["out"], rtol=tol, atol=tol)
