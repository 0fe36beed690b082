"""Step time of ScaledAdam vs torch.optim.Adam on the Zipformer-M parameter set.

    python benchmarks/optimizer_step.py [--rounds 5] [--threads 1] [--reference]
        [--baseline-src OLD/src]

The parameters are those of ``zipasr.Zipformer(zipasr.ZipformerConfig.medium())``.
Gradients are random and fixed. ScaledAdam runs the recipe settings (clipping_scale 2.0); the
timed steps start after the early clipping-threshold estimates and each round times
size_update_period steps, so the periodic size update is included. The candidates take turns,
one round each, so that a busy host slows them alike; the table gives each one's median round
and its fastest; ratios are given between the fastest rounds (a busy host only ever adds time)
and as the median of per-round ratios. ``--reference`` also times icefall's
ScaledAdam (run with the reference venv's python; tools/reference.py). ``--baseline-src``
times the ScaledAdam of another zipasr source tree beside this one (before/after a change:
``git archive OLD src | tar -x -C /tmp/old`` and ``--baseline-src /tmp/old/src``).

It runs on one thread by default: on a shared machine, ops that wait for a busy second thread
took 100x longer and the numbers meant nothing. Use ``--threads`` on a machine of your own.
The timed steps are early ones (step < 227), which still pay for Adam's bias correction.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
from benchmarks.speed import import_from_tree  # noqa: E402
from benchmarks.suite import cpu_name  # noqa: E402
from zipasr import Zipformer, ZipformerConfig  # noqa: E402
from zipasr.optim import ScaledAdam  # noqa: E402

STEPS_PER_ROUND = 4  # ScaledAdam's size_update_period: every round has one size update
OURS = "zipasr ScaledAdam"


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


def scaled_adam_from_tree(src: Path) -> Callable[..., torch.optim.Optimizer]:
    """ScaledAdam of the zipasr package under ``src`` (another checkout's ``src/``)."""
    return import_from_tree(src, "zipasr.optim").ScaledAdam  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of 4 steps each")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--reference", action="store_true", help="also time icefall's version")
    parser.add_argument("--baseline-src", type=Path, help="also time this tree's ScaledAdam")
    parser.add_argument("--no-plain-adam", action="store_true", help="skip Adam(foreach=False)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shapes = zipformer_m_shapes()
    numel = sum(math.prod(s) for s in shapes)
    print(f"parameters: {len(shapes)} tensors, {numel:,} elements: zipasr Zipformer-M encoder")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU: {cpu_name()}")

    candidates: dict[str, Callable[[list], torch.optim.Optimizer]] = {
        "Adam (foreach=True)": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True),
    }
    if not args.no_plain_adam:
        candidates["Adam (foreach=False)"] = lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False)
    candidates[OURS] = lambda ps: ScaledAdam(ps, lr=0.045, clipping_scale=2.0)
    if args.baseline_src:
        baseline = scaled_adam_from_tree(args.baseline_src.resolve())
        candidates["baseline ScaledAdam"] = lambda ps: baseline(ps, lr=0.045, clipping_scale=2.0)
    if args.reference:
        reference = reference_scaled_adam()
        candidates["reference ScaledAdam"] = lambda ps: reference(ps, lr=0.045, clipping_scale=2.0)

    optimizers: dict[str, Any] = {}
    for label, build in candidates.items():
        optimizers[label] = build(make_params(shapes))
        # From step 10 the clipping threshold is set; 12 keeps rounds aligned to size updates.
        for _ in range(12 if "ScaledAdam" in label else 3):
            optimizers[label].step()
    rounds: dict[str, list[float]] = {label: [] for label in candidates}
    for _ in range(args.rounds):
        for label, optimizer in optimizers.items():
            rounds[label].append(time_steps(optimizer, 0, STEPS_PER_ROUND))

    for label, times in rounds.items():
        ms = ", ".join(f"{t * 1e3:.0f}" for t in times)
        print(
            f"{label:24s} {statistics.median(times) * 1e3:8.1f} ms/step median, "
            f"{min(times) * 1e3:.1f} fastest (rounds: {ms})"
        )
    # Noise from other work on the host only ever adds time: the fastest rounds are the
    # cleanest comparison; the median of per-round ratios shows how much it moved.
    ours = rounds[OURS]
    for label, times in rounds.items():
        if label != OURS:
            ratio = statistics.median(a / b for a, b in zip(ours, times, strict=True))
            print(
                f"ratio ScaledAdam / {label}: {min(ours) / min(times):.2f}x fastest rounds, "
                f"{ratio:.2f}x median of per-round ratios"
            )


if __name__ == "__main__":
    main()
