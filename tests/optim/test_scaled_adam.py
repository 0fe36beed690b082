"""ScaledAdam behaviour: resuming, input forms, a non-ASR task, and its error messages."""

from __future__ import annotations

import io
import logging
import random

import pytest
import torch
from torch import nn

import zipasr.optim.update as update
from zipasr.optim import Eden, ScaledAdam

SHAPES = [(), (), (1,), (16,), (16,), (40, 30), (40, 30), (30, 40), (6, 3, 3, 3)]


def make_params(seed: int = 0) -> list[nn.Parameter]:
    gen = torch.Generator().manual_seed(seed)
    params = [nn.Parameter(torch.randn(s, generator=gen) * 0.2) for s in SHAPES]
    params[3].data.zero_()  # a zero-initialised vector
    return params


def set_grads(params: list[nn.Parameter], gen: torch.Generator, batch: int) -> None:
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen) * (30.0 if batch == 45 else 1.0)


def recipe(params) -> tuple[ScaledAdam, Eden]:
    optimizer = ScaledAdam(params, lr=0.045, clipping_scale=2.0)
    return optimizer, Eden(optimizer, lr_batches=7500, lr_epochs=3.5, warmup_start=0.1)


def train(params, optimizer, scheduler, gen, batches: range) -> None:
    for batch in batches:
        if batch % 20 == 1:
            scheduler.step_epoch(batch // 20)
        set_grads(params, gen, batch)
        scheduler.step_batch(batch)
        optimizer.step()


@pytest.fixture
def small_segments(monkeypatch):
    """Cut tensors into several segments, so resuming and parity cover that code path."""
    monkeypatch.setattr(update, "SEGMENT_NUMEL", 500)


def test_state_dict_round_trip_is_bitwise(small_segments):
    gen = torch.Generator().manual_seed(1)
    params = make_params()
    optimizer, scheduler = recipe(params)
    train(params, optimizer, scheduler, gen, range(1, 61))

    gen = torch.Generator().manual_seed(1)
    resumed = make_params()
    first, first_scheduler = recipe(resumed)
    train(resumed, first, first_scheduler, gen, range(1, 31))
    buffer = io.BytesIO()
    torch.save({"optimizer": first.state_dict(), "scheduler": first_scheduler.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=False)
    second, second_scheduler = recipe(resumed)  # fresh optimizer and schedule, same params
    second.load_state_dict(saved["optimizer"])
    second_scheduler.load_state_dict(saved["scheduler"])
    train(resumed, second, second_scheduler, gen, range(31, 61))

    for uninterrupted, continued in zip(params, resumed, strict=True):
        assert torch.equal(uninterrupted, continued)
    assert second_scheduler.get_last_lr() == scheduler.get_last_lr()
    assert torch.equal(
        second.state[resumed[0]]["model_norms"], optimizer.state[params[0]]["model_norms"]
    )


def test_segment_size_does_not_change_results(monkeypatch):
    results = []
    for segment in (1 << 17, 500, 7):
        monkeypatch.setattr(update, "SEGMENT_NUMEL", segment)
        gen = torch.Generator().manual_seed(2)
        params = make_params()
        optimizer, scheduler = recipe(params)
        train(params, optimizer, scheduler, gen, range(1, 25))
        results.append(torch.cat([p.detach().reshape(-1) for p in params]))
    assert torch.equal(results[0], results[1]) and torch.equal(results[0], results[2])


def test_params_pairs_and_groups_give_the_same_updates():
    def run(build) -> torch.Tensor:
        gen = torch.Generator().manual_seed(3)
        params = make_params()
        optimizer = build(params)
        for batch in range(1, 15):
            set_grads(params, gen, batch)
            optimizer.step()
        return torch.cat([p.detach().reshape(-1) for p in params])

    named = lambda ps: [(f"p{i}", p) for i, p in enumerate(ps)]  # noqa: E731
    plain = run(lambda ps: ScaledAdam(ps, clipping_scale=2.0))
    pairs = run(lambda ps: ScaledAdam(named(ps), clipping_scale=2.0))
    groups = run(lambda ps: ScaledAdam([{"params": ps}], clipping_scale=2.0))
    icefall = run(lambda ps: ScaledAdam([{"named_params": named(ps)}], clipping_scale=2.0))
    for other in (pairs, groups, icefall):
        assert torch.equal(plain, other)


def test_trains_an_mlp_on_a_synthetic_regression_task():
    torch.manual_seed(0)
    x = torch.randn(512, 8)
    y = torch.sin(x @ torch.randn(8, 1)) + 0.5 * x[:, :1] ** 2
    model = nn.Sequential(
        nn.Linear(8, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1)
    )
    optimizer = ScaledAdam(model.named_parameters(), lr=0.045, clipping_scale=2.0)
    scheduler = Eden(optimizer, lr_batches=7500, lr_epochs=3.5, warmup_batches=50)
    initial = nn.functional.mse_loss(model(x), y).item()
    for batch in range(1, 401):
        loss = nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        scheduler.step_batch(batch)
        optimizer.step()
    final = nn.functional.mse_loss(model(x), y).item()
    assert final < 0.05 * initial, (initial, final)


def test_step_neither_logs_nor_uses_python_random(caplog, capsys):
    gen = torch.Generator().manual_seed(4)
    params = make_params()
    optimizer, scheduler = recipe(params)
    state = random.getstate()
    with caplog.at_level(logging.DEBUG):
        train(params, optimizer, scheduler, gen, range(1, 50))  # includes a clipped spike
    assert random.getstate() == state
    assert caplog.records == []
    assert capsys.readouterr() == ("", "")


def test_params_without_grad_still_move_with_momentum():
    """As in the reference: a missing gradient counts as zero, and momentum carries on."""
    params = make_params()
    optimizer = ScaledAdam(params)
    gen = torch.Generator().manual_seed(5)
    set_grads(params, gen, 1)
    optimizer.step()
    before = params[5].detach().clone()
    params[5].grad = None
    optimizer.step()
    assert not torch.equal(params[5], before)


def test_sparse_gradient_is_rejected_with_the_parameter_name():
    embedding = nn.Embedding(10, 4, sparse=True)
    optimizer = ScaledAdam(embedding.named_parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match=r"'weight' has a sparse gradient.*sparse=False"):
        optimizer.step()


def test_complex_parameter_is_rejected():
    with pytest.raises(ValueError, match=r"'z' is complex.*view_as_real"):
        ScaledAdam([("z", nn.Parameter(torch.zeros(3, dtype=torch.complex64)))])


@pytest.mark.parametrize("bad_value", [float("inf"), float("nan")])
def test_non_finite_gradient_names_the_parameter_and_changes_nothing(bad_value):
    params = make_params()
    optimizer = ScaledAdam([(f"layer{i}.w", p) for i, p in enumerate(params)], clipping_scale=2.0)
    gen = torch.Generator().manual_seed(6)
    for batch in range(1, 13):
        set_grads(params, gen, batch)
        optimizer.step()
    before = [p.detach().clone() for p in params]
    state_before = {
        k: v.clone() for k, v in optimizer.state[params[0]].items() if torch.is_tensor(v)
    }
    params[6].grad[2, 3] = bad_value
    with pytest.raises(RuntimeError, match=r"not finite.*'layer6.w'.*zero_grad.*GradScaler"):
        optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(before, params, strict=True))
    for key, value in state_before.items():
        assert torch.equal(optimizer.state[params[0]][key], value), key
    set_grads(params, gen, 13)  # the next batch trains normally
    optimizer.step()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("lr", -0.1),
        ("betas", (0.9, 1.0)),
        ("betas", (-0.1, 0.98)),
        ("scalar_lr_scale", -1.0),
        ("eps", -1e-8),
        ("param_min_rms", 0.0),
        ("param_max_rms", 1e-6),
        ("scalar_max", 0.0),
        ("size_update_period", 0),
        ("size_update_period", 2.5),
        ("clipping_scale", 0.0),
        ("clipping_update_period", 0),
    ],
)
def test_invalid_options_are_rejected_by_name(option, value):
    with pytest.raises(ValueError, match=rf"{option}=.* is invalid; it must be"):
        ScaledAdam(make_params(), **{option: value})


def test_invalid_group_override_is_rejected():
    params = make_params()
    with pytest.raises(ValueError, match=r"param group 1: lr=-1 is invalid"):
        ScaledAdam([{"params": params[:3]}, {"params": params[3:], "lr": -1}])


def test_changing_a_bucket_after_training_started_is_explained():
    params = make_params()
    optimizer = ScaledAdam(params)
    gen = torch.Generator().manual_seed(7)
    set_grads(params, gen, 1)
    optimizer.step()
    optimizer.param_groups[0]["params"].append(nn.Parameter(torch.zeros(40, 30)))
    with pytest.raises(RuntimeError, match=r"now has 3 members.*add_param_group"):
        optimizer.step()


def test_empty_parameter_list_is_rejected():
    with pytest.raises(ValueError, match="empty parameter list"):
        ScaledAdam([])


def test_chunks_grow_with_threads():
    """Several threads get larger chunks (fewer parallel regions to wake the threads for)."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = update.segment_numel()
        torch.set_num_threads(2)
        several = update.segment_numel()
    finally:
        torch.set_num_threads(threads)
    assert single == update.SEGMENT_NUMEL
    assert several == update.SEGMENT_NUMEL * update.THREADED_SEGMENT_FACTOR
