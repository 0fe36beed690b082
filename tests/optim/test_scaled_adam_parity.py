"""ScaledAdam + Eden reproduce the reference optimizer (fixture: tools/make_optim_fixtures.py)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch

from zipasr.optim import Eden, ScaledAdam

RTOL = 1e-6  # largest allowed |ours - reference| / max|reference|, per tensor


def relative_diff(ours: torch.Tensor, ref: torch.Tensor) -> float:
    scale = ref.abs().max().clamp(min=1e-12)
    return float((ours.double() - ref.double()).abs().max() / scale)


def run_ours(
    toy: ModuleType,
    initial: torch.Tensor,
    groups_of_names: list[list[str]],
    lr_scales: list[float],
    grads_for_batch,
    steps: int,
    start_state: dict[str, Any] | None = None,
    start_batch: int = 1,
    start_params: torch.Tensor | None = None,
) -> tuple[dict[int, torch.Tensor], list[list[float]], ScaledAdam]:
    """The recipe's loop on the toy parameters; returns flat params per batch and lrs."""
    recipe = toy.RECIPE
    values = toy.unflatten(initial if start_params is None else start_params)
    params = {n: torch.nn.Parameter(v) for n, v in values.items()}
    groups = [
        {"params": [(n, params[n]) for n in names], "lr": recipe["base_lr"] * scale}
        for names, scale in zip(groups_of_names, lr_scales, strict=True)
    ]
    optimizer = ScaledAdam(groups, lr=recipe["base_lr"], clipping_scale=recipe["clipping_scale"])
    scheduler = Eden(
        optimizer, recipe["lr_batches"], recipe["lr_epochs"], warmup_start=recipe["warmup_start"]
    )
    if start_state is not None:
        optimizer.load_state_dict(start_state)
    flat_params, lrs = {}, []
    for batch in range(start_batch, start_batch + steps):
        if (batch - 1) % toy.BATCHES_PER_EPOCH == 0:
            scheduler.step_epoch((batch - 1) // toy.BATCHES_PER_EPOCH)
        elif batch == start_batch:
            scheduler.step_epoch((batch - 1) // toy.BATCHES_PER_EPOCH)  # resuming mid-epoch
        for name, g in grads_for_batch(batch).items():
            params[name].grad = None if g is None else g.clone()
        scheduler.step_batch(batch)
        lrs.append(scheduler.get_last_lr())
        optimizer.step()
        flat_params[batch] = toy.flatten(params)
    return flat_params, lrs, optimizer


def recorded_grads(toy: ModuleType, run: dict[str, Any]):
    return lambda batch: toy.unflatten(run["grads"][batch - 1])


def assert_matches_checkpoints(toy, run, flat_params) -> float:
    worst = 0.0
    for batch, ref_flat in zip(run["checkpoint_steps"], run["checkpoints"], strict=True):
        ours = toy.unflatten(flat_params[batch])
        for name, ref in toy.unflatten(ref_flat).items():
            diff = relative_diff(ours[name], ref)
            assert diff <= RTOL, f"{name} after batch {batch}: relative diff {diff:.2e}"
            worst = max(worst, diff)
    return worst


def test_params_and_lrs_match_reference_with_clipping_spike(toy, reference):
    run = reference["short"]
    names = list(toy.TOY_SHAPES)
    steps = len(run["lrs"])
    flat_params, lrs, optimizer = run_ours(
        toy, reference["initial"], [names], [1.0], recorded_grads(toy, run), steps
    )
    assert steps >= 60
    assert lrs == run["lrs"].tolist()  # exactly equal floats
    assert_matches_checkpoints(toy, run, flat_params)

    ours = optimizer.state_dict()["state"]
    ref = run["state_dict_final"]["state"]
    assert ours.keys() == ref.keys()
    for index, ref_state in ref.items():
        assert ours[index].keys() == ref_state.keys(), index
        for key, value in ref_state.items():
            if isinstance(value, torch.Tensor):
                assert relative_diff(ours[index][key], value) <= 1e-5, (index, key)
            else:
                assert abs(ours[index][key] - value) <= 1e-5 * abs(value), (index, key)
    assert ours[0]["num_clipped"] == ref[0]["num_clipped"] >= 1  # the spike was clipped


def test_reference_checkpoint_resumes(toy, reference):
    """An icefall/reference optimizer state_dict loads and training continues identically."""
    run = reference["short"]
    names = list(toy.TOY_SHAPES)
    half = len(run["lrs"]) // 2
    start = run["checkpoint_steps"].index(half)
    flat_params, lrs, _ = run_ours(
        toy,
        reference["initial"],
        [names],
        [1.0],
        recorded_grads(toy, run),
        half,
        start_state=run["state_dict_half"],
        start_batch=half + 1,
        start_params=run["checkpoints"][start],
    )
    assert lrs == run["lrs"][half:].tolist()
    assert_matches_checkpoints(
        toy,
        {
            "checkpoint_steps": run["checkpoint_steps"][start + 1 :],
            "checkpoints": run["checkpoints"][start + 1 :],
        },
        flat_params,
    )


def test_two_groups_240_steps_match_reference(toy, reference):
    """Covers the threshold refresh at steps 100 and 200 and the end of bias correction (227)."""
    run = reference["long"]
    steps = len(run["lrs"])
    gen = torch.Generator().manual_seed(toy.SEED + 1)
    drawn = {b: toy.toy_grads(gen, b) for b in range(1, steps + 1)}
    checksum = sum(float(toy.flatten(g).nan_to_num().double().sum()) for g in drawn.values())
    assert checksum == run["grad_checksum"], "torch's generator drew different gradients"

    flat_params, lrs, optimizer = run_ours(
        toy, reference["initial"], run["groups"], [1.0, 0.5], drawn.__getitem__, steps
    )
    assert lrs == run["lrs"].tolist()
    assert_matches_checkpoints(toy, run, flat_params)
    ours = optimizer.state_dict()["state"]
    for index, ref_state in run["state_dict_final"]["state"].items():
        assert ours[index]["step"] == ref_state["step"] == steps
        if "model_norm_threshold" in ref_state:
            threshold = ref_state["model_norm_threshold"]
            assert abs(ours[index]["model_norm_threshold"] - threshold) <= 1e-6 * threshold
