"""Regenerates tests/fixtures/optim/reference_run.pt from the reference ScaledAdam and Eden.

The reference is the `zipformer` package (0.1.3, icefall's Zipformer recipe as a package). Set
up a separate environment for it, so that it never meets zipasr:

    python -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 numpy packaging
    /tmp/refvenv/bin/pip install --no-deps zipformer==0.1.3
    /tmp/refvenv/bin/python tools/make_optim_fixtures.py

`--no-deps` skips the package's training dependencies; tools/reference.py puts empty stand-ins
for the few modules that its imports need and bypasses the package `__init__`.

The fixture holds two runs of the recipe settings (Eden lr_batches 7500, lr_epochs 3.5,
warmup_start 0.1, clipping_scale 2.0, base lr 0.045) on a toy parameter set with a 0-dim
parameter, a zero-initialised vector, same-shaped matrices and a conv weight:

* "short": 64 steps, every gradient recorded, a gradient spike after step 40 (clipped); the
  reference parameters every 4 steps, the learning rate of every step, and the optimizer's
  state_dict after 32 and 64 steps.
* "long": 240 steps with two parameter groups (an ``lr_scale``), gradients from `toy_grads`
  (a seeded torch.Generator, re-drawn by the test and checked by a checksum), to cover the
  clipping threshold refresh at step 100/200 and the end of the bias correction at step 227.

The toy problem (`toy_params`, `toy_grads`) is imported by the tests, so it uses torch only.
"""

from __future__ import annotations

import copy
import math
import sys
import types
from pathlib import Path

import torch

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "optim" / "reference_run.pt"
RECIPE = dict(base_lr=0.045, lr_batches=7500, lr_epochs=3.5, warmup_start=0.1, clipping_scale=2.0)
BATCHES_PER_EPOCH = 16
SHORT_STEPS, LONG_STEPS = 64, 240
SPIKE_STEP, SPIKE_FACTOR = 45, 30.0  # 1-based batch index of the gradient spike
NO_GRAD_STEPS = (6, 7)  # batches where "proj.weight" has no gradient (None)
CHECKPOINT_EVERY = 4
SEED = 2024

# name -> (shape, init): init is "zeros", a constant, or a random normal std
TOY_SHAPES: dict[str, tuple[tuple[int, ...], str | float]] = {
    "out_norm.log_scale": ((), 0.3),
    "gain": ((), -0.2),
    "offset": ((1,), 0.5),
    "downsample.bias": ((12,), "zeros"),
    "layers.0.bias": ((12,), "randn:0.1"),
    "layers.0.weight": ((12, 8), "randn:0.3"),
    "layers.1.weight": ((12, 8), "randn:0.3"),
    "layers.2.weight": ((12, 8), "randn:0.3"),
    "proj.weight": ((8, 12), "randn:0.2"),
    "conv.weight": ((4, 2, 3, 3), "randn:0.25"),
}
LONG_GROUP_B = ("proj.weight", "conv.weight", "gain")  # the group with lr_scale 0.5


def toy_params() -> dict[str, torch.Tensor]:
    """The toy parameters, identical on every call."""
    gen = torch.Generator().manual_seed(SEED)
    params = {}
    for name, (shape, init) in TOY_SHAPES.items():
        if init == "zeros":
            value = torch.zeros(shape)
        elif isinstance(init, float):
            value = torch.full(shape, init)
        else:
            value = torch.randn(shape, generator=gen) * float(init.split(":")[1])
        params[name] = value
    return params


def toy_grads(gen: torch.Generator, batch: int) -> dict[str, torch.Tensor | None]:
    """Gradients for 1-based `batch`: per-parameter scales, a slow drift, one spike."""
    grads: dict[str, torch.Tensor | None] = {}
    for k, (name, (shape, _)) in enumerate(TOY_SHAPES.items()):
        scale = (0.5 + 0.25 * k) * (1.0 + 0.5 * math.sin(batch / 7.0 + k))
        grads[name] = torch.randn(shape, generator=gen) * scale + 0.05 * (k % 3)
    if batch == SPIKE_STEP:
        grads = {n: g * SPIKE_FACTOR for n, g in grads.items()}
    if batch in NO_GRAD_STEPS:
        grads["proj.weight"] = None
    return grads


def _import_reference() -> tuple[types.ModuleType, types.ModuleType]:
    """Returns (zipformer.modules.optim, zipformer.utils) without the training dependencies."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tools.reference import import_reference

    return import_reference("modules.optim"), import_reference("utils")


def flatten(tensors: dict[str, torch.Tensor | None]) -> torch.Tensor:
    """Concatenates tensors in TOY_SHAPES order (None as NaN), so a fixture is a few tensors."""
    parts = []
    for name, (shape, _) in TOY_SHAPES.items():
        value = tensors[name]
        parts.append(torch.full(shape, math.nan) if value is None else value.detach())
    return torch.cat([t.reshape(-1) for t in parts])


def unflatten(flat: torch.Tensor) -> dict[str, torch.Tensor | None]:
    """Inverse of `flatten`; an all-NaN tensor comes back as None."""
    out: dict[str, torch.Tensor | None] = {}
    offset = 0
    for name, (shape, _) in TOY_SHAPES.items():
        numel = math.prod(shape)
        value = flat[offset : offset + numel].reshape(shape).clone()
        out[name] = None if bool(value.isnan().all()) else value
        offset += numel
    return out


def _run(ref, groups_of_names: list[list[str]], lr_scales: list[float], steps: int) -> dict:
    params = {n: torch.nn.Parameter(v.clone()) for n, v in toy_params().items()}
    groups = [
        {"named_params": [(n, params[n]) for n in names], "lr": RECIPE["base_lr"] * s}
        for names, s in zip(groups_of_names, lr_scales, strict=True)
    ]
    optimizer = ref.ScaledAdam(
        groups, lr=RECIPE["base_lr"], clipping_scale=RECIPE["clipping_scale"]
    )
    scheduler = ref.Eden(
        optimizer, RECIPE["lr_batches"], RECIPE["lr_epochs"], warmup_start=RECIPE["warmup_start"]
    )
    gen = torch.Generator().manual_seed(SEED + 1)
    grads_seen, lrs, checkpoints = [], [], {}
    out: dict = {}
    for batch in range(1, steps + 1):
        if (batch - 1) % BATCHES_PER_EPOCH == 0:
            scheduler.step_epoch((batch - 1) // BATCHES_PER_EPOCH)  # epoch e: step_epoch(e - 1)
        grads = toy_grads(gen, batch)
        for name, p in params.items():
            p.grad = None if grads[name] is None else grads[name].clone()
        grads_seen.append(flatten(grads))
        scheduler.step_batch(batch)
        lrs.append(list(scheduler.get_last_lr()))
        optimizer.step()
        if batch % CHECKPOINT_EVERY == 0 or batch == steps:
            checkpoints[batch] = flatten(params)
        if batch == steps // 2:
            out["state_dict_half"] = copy.deepcopy(optimizer.state_dict())
    out["state_dict_final"] = copy.deepcopy(optimizer.state_dict())
    out["grads"] = torch.stack(grads_seen)  # (steps, numel); NaN rows mark a None gradient
    out["lrs"] = torch.tensor(lrs, dtype=torch.float64)  # (steps, groups), exact python floats
    out["checkpoint_steps"] = sorted(checkpoints)
    out["checkpoints"] = torch.stack([checkpoints[b] for b in out["checkpoint_steps"]])
    return out


def _lr_scale_groups(utils) -> list[tuple[float, list[str]]]:
    """The reference's per-module lr grouping on a small nested model with lr_scale attributes."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 2), torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    )
    model.lr_scale = 0.9
    model[1].lr_scale = 0.5
    model[1][0].lr_scale = 0.3
    groups = utils.get_parameter_groups_with_lrs(model, lr=0.045, include_names=True)
    return [(g["lr"], [n for n, _ in g["named_params"]]) for g in groups]


def main() -> None:
    ref, utils = _import_reference()
    names = list(TOY_SHAPES)
    short = _run(ref, [names], [1.0], SHORT_STEPS)
    long_a = [n for n in names if n not in LONG_GROUP_B]
    long = _run(ref, [long_a, list(LONG_GROUP_B)], [1.0, 0.5], LONG_STEPS)
    # The test re-draws the long run's gradients with toy_grads; a checksum guards the draw.
    long["grad_checksum"] = float(long.pop("grads").nan_to_num().double().sum())
    long["checkpoint_steps"] = long["checkpoint_steps"][-1:]
    long["checkpoints"] = long["checkpoints"][-1:].clone()  # a view would save all rows
    long["groups"] = [long_a, list(LONG_GROUP_B)]
    fixture = {
        "recipe": RECIPE,
        "batches_per_epoch": BATCHES_PER_EPOCH,
        "initial": flatten(toy_params()),
        "short": short,
        "long": long,
        "lr_scale_groups": _lr_scale_groups(utils),
    }
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fixture, FIXTURE)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size / 1024:.0f} KiB)")
    clipped = short["state_dict_final"]["state"][0].get("num_clipped")
    print(f"short run: num_clipped since the last threshold refresh = {clipped}")


if __name__ == "__main__":
    main()
