"""The benchmark suite in one command: encoder speed and memory of Zipformer-S, -M and -L, each
against a standard Conformer of its size, and training convergence at equal wall-clock or equal
steps (ScaledAdam vs Adam, Zipformer vs Conformer, ablations).

    python -m benchmarks [--quick] [--out DIR] [--budget-s S | --budget-steps N] [--threads N]
    python benchmarks/suite.py ...          # the same

Writes ``DIR/results.md`` (machine, tables, closing ratios, a README headline),
``DIR/results.json`` (every number, curves included), and ``DIR/speed.png``,
``DIR/convergence.png``, ``DIR/ablations.png``. The defaults take about 50 minutes on 2 CPU
cores (the speed section about 4 of them, the 13 convergence runs of 180 s the rest);
``--quick`` is a smoke test of the same pipeline (about a minute, numbers meaningless; its
speed section measures the S and M pairs only).
docs/benchmarks.md describes the method.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a file: make `benchmarks` and this checkout's zipasr importable
    _root = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_root), str(_root / "src")]

#: Per-run overhead on top of the budget (process start, data reload, evaluation), for the
#: duration estimate printed at the start.
RUN_OVERHEAD_S = 30.0
#: The speed section's part of that estimate: its 30 measurements took 222 s on 2026-12-07
#: (2 cores, Intel Xeon; see :mod:`benchmarks.speed`).
SPEED_ESTIMATE_S = 240.0
#: Seconds per optimizer step assumed by the duration estimate of an equal-step budget: the
#: demo-sized Zipformer, 30 s batches, 2 single-threaded processes on a quiet 2-core machine
#: (a busy machine is slower; the Conformer is faster).
DEFAULT_S_PER_STEP = 0.6
#: Evaluations on the dev set per run, seconds each (the step budget's estimate).
EVAL_S = 15.0


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(threads: int, argv: list[str]) -> dict[str, Any]:
    import torch

    try:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "os": platform.platform(),
        "load_average": load,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
        "command": " ".join(["python -m benchmarks", *argv]),
    }


def build_parser() -> argparse.ArgumentParser:
    from benchmarks.convergence import QUICK_RUNS, RUNS_BY_NAME, ConvergenceSettings

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n\n")[0].replace("\n", " ")
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (about a minute)")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"), help="output folder")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help=f"training seconds per convergence run (default {ConvergenceSettings.budget_s:g}; "
        "--quick: 2)",
    )
    budget.add_argument(
        "--budget-steps",
        type=int,
        default=None,
        metavar="N",
        help="train every convergence run for N optimizer steps instead of a time budget, with "
        "the schedules sized for N: comparable across sessions and machines",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="CPU cores to use: torch threads for inference, single-threaded data-parallel "
        "processes for training (default 2)",
    )
    parser.add_argument(
        "--only", choices=("speed", "convergence"), help="run one section of the suite"
    )
    parser.add_argument(
        "--runs",
        nargs="+",
        choices=list(RUNS_BY_NAME),
        default=None,
        metavar="RUN",
        help=f"convergence runs (default: all {len(RUNS_BY_NAME)}: {', '.join(RUNS_BY_NAME)}; "
        f"--quick: {', '.join(QUICK_RUNS)})",
    )
    parser.add_argument(
        "--second-seed",
        action="store_true",
        help="then train the baseline and the best run of each Adam sweep with a second seed",
    )
    parser.add_argument(
        "--pool",
        choices=("templates", "wide"),
        default=ConvergenceSettings.pool,
        help="the corpus's sentence pool (zipasr synth --pool)",
    )
    parser.add_argument(
        "--hours", type=float, default=None, help="corpus size (default 1; --quick: 0.03)"
    )
    parser.add_argument(
        "--max-duration-s",
        type=float,
        default=ConvergenceSettings.max_duration_s,
        help="audio seconds per training step, over all processes "
        f"(default {ConvergenceSettings.max_duration_s:g})",
    )
    return parser


def convergence_estimate_s(settings: Any, runs: int) -> float:
    """About how long ``runs`` convergence runs take: each its budget (a step budget at
    :data:`DEFAULT_S_PER_STEP`, plus its dev evaluations) and :data:`RUN_OVERHEAD_S`."""
    if settings.budget_steps is None:
        per_run = settings.budget_s
    else:
        per_run = settings.budget_steps * DEFAULT_S_PER_STEP + settings.evals * EVAL_S
    return runs * (per_run + RUN_OVERHEAD_S)


def main(argv: list[str] | None = None) -> None:
    from benchmarks.convergence import (
        QUICK_RUNS,
        RUNS_BY_NAME,
        ConvergenceSettings,
        run_convergence,
        runs_left,
    )
    from benchmarks.report import write_report
    from benchmarks.speed import MODELS, QUICK_MODELS, SECONDS, run_speed

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.budget_steps is not None and args.budget_steps < 1:
        build_parser().error("--budget-steps must be at least 1")
    common: dict[str, Any] = {
        "processes": args.threads,
        "threads": 1,
        "max_duration_s": args.max_duration_s,
        "pool": args.pool,
    }
    if args.quick:
        common.update(hours=0.03, budget_s=2.0, evals=2)
    if args.budget_s is not None:
        common["budget_s"] = args.budget_s
    if args.hours is not None:
        common["hours"] = args.hours
    if args.budget_steps is not None:
        settings = ConvergenceSettings.for_steps(args.budget_steps, **common)
    else:
        settings = ConvergenceSettings(**common)
    if args.runs is None:
        args.runs = list(QUICK_RUNS if args.quick else RUNS_BY_NAME)
    sections = [args.only] if args.only else ["speed", "convergence"]
    estimate = (SPEED_ESTIMATE_S if "speed" in sections and not args.quick else 0) + (
        convergence_estimate_s(
            settings, runs_left(out, settings, tuple(args.runs), args.second_seed)
        )
        if "convergence" in sections
        else 0
    )
    print(
        f"zipasr benchmarks{' (--quick)' if args.quick else ''} into {out}"
        + (f"; about {estimate / 60:.0f} min" if not args.quick else "")
        + f"; torch threads: {args.threads}",
        flush=True,
    )

    def log(message: str) -> None:
        print(message, flush=True)

    start = time.perf_counter()
    results: dict[str, Any] = {"machine": machine_info(args.threads, argv), "quick": args.quick}
    if "speed" in sections:
        log("== encoder speed and memory ==")
        if args.quick:
            results["speed"] = run_speed(QUICK_MODELS, (1.0, 2.0), args.threads, 1, (256, 512), log)
        else:
            results["speed"] = run_speed(MODELS, SECONDS, args.threads, 3, log=log)
    if "convergence" in sections:
        log(f"== convergence at equal {'steps' if args.budget_steps else 'wall-clock'} ==")
        results["convergence"] = run_convergence(
            out, settings, tuple(args.runs), log, second_seed=args.second_seed
        )
    results["total_s"] = time.perf_counter() - start
    report = write_report(results, out)  # also adds results["ratios"]
    (out / "results.json").write_text(json.dumps(results, indent=1))
    log(f"done in {results['total_s'] / 60:.1f} min: {report}")
    closing = report.read_text().split("## Closing note: measured ratios", 1)[-1]
    log(closing.strip())


if __name__ == "__main__":
    main()
