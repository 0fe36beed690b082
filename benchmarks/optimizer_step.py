"""Step time of ScaledAdam vs torch.optim.Adam on the Zipformer-M parameter set.

    python benchmarks/optimizer_step.py [--steps 12] [--threads 1] [--reference]

The parameters are those of ``zipasr.Zipformer(zipasr.ZipformerConfig.medium())``.
Gradients are random and fixed. ScaledAdam runs the recipe settings (clipping_scale 2.0); the
timed steps start after the early clipping-threshold estimates and cover a multiple of
size_update_period, so the periodic size update is included in the average. ``--reference``
also times icefall's ScaledAdam (run with the reference venv's python; tools/reference.py).

It runs on one thread by default: on a shared machine, ops that wait for a busy second thread
took 100x longer and the numbers meant nothing. Use ``--threads`` on a machine of your own.
The timed steps are early ones (step < 227), which still pay for Adam's bias correction.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
from zipasr import Zipformer, ZipformerConfig  # noqa: E402
from zipasr.optim import ScaledAdam  # noqa: E402


def zipformer_m_shapes() -> list[tuple[int, ...]]:
    with torch.device("meta"):
        model = Zipformer(ZipformerConfig.medium())
    return [tuple(p.shape) for p in model.parameters()]


def make_params(shapes: list[tuple[int, ...]]) -> list[torch.nn.Parameter]:
    gen = torch.Generator().manual_seed(0)
    params = []
    for shape in shapes:
        p = torch.nn.Parameter(torch.randn(shape, generator=gen) * 0.1)
        p.grad = torch.randn(shape, generator=gen) * 0.01
        params.append(p)
    return params


def time_steps(optimizer: torch.optim.Optimizer, warmup: int, steps: int) -> float:
    """Mean seconds per step over `steps` steps, after `warmup` untimed steps."""
    for _ in range(warmup):
        optimizer.step()
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - start) / steps


def reference_scaled_adam() -> Callable[..., torch.optim.Optimizer]:
    """icefall's ScaledAdam from the `zipformer` package (tools/reference.py)."""
    from tools.reference import import_reference

    return import_reference("modules.optim").ScaledAdam  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps (multiple of 4)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--reference", action="store_true", help="also time icefall's version")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shapes = zipformer_m_shapes()
    numel = sum(math.prod(s) for s in shapes)
    print(f"parameters: {len(shapes)} tensors, {numel:,} elements: zipasr Zipformer-M encoder")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    candidates: dict[str, Callable[[list], torch.optim.Optimizer]] = {
        "Adam (foreach=False)": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False),
        "Adam (foreach=True)": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True),
        "zipasr ScaledAdam": lambda ps: ScaledAdam(ps, lr=0.045, clipping_scale=2.0),
    }
    if args.reference:
        reference = reference_scaled_adam()
        candidates["reference ScaledAdam"] = lambda ps: reference(ps, lr=0.045, clipping_scale=2.0)
    seconds = {}
    for label, build in candidates.items():
        # From step 10 the clipping threshold is set; a multiple of 4 includes size updates.
        warmup = 12 if "ScaledAdam" in label else 3
        seconds[label] = time_steps(build(make_params(shapes)), warmup, args.steps)
        print(f"{label:24s} {seconds[label] * 1e3:8.1f} ms/step")
    ours = seconds["zipasr ScaledAdam"]
    for label, value in seconds.items():
        if label != "zipasr ScaledAdam":
            print(f"ratio ScaledAdam / {label}: {ours / value:.2f}x")


if __name__ == "__main__":
    main()
