"""Peak memory and time of the pruned RNN-T loss vs the full-lattice loss, forward + backward.

    python benchmarks/rnnt_loss.py                     # B=8, T=250, U=60, V=500, J=512
    python benchmarks/rnnt_loss.py --batch 4 --repeats 5 --threads 2

"pruned" is the icefall training step: simple loss -> prune ranges -> do_rnnt_pruning -> joiner
(tanh + Linear(J -> V)) on the (B, T, S, J) band -> pruned loss, then backward of their sum.
"full" runs the same joiner on the whole (B, T, U+1, J) lattice and our full-lattice loss.

Each variant runs in its own fresh Python process, so one cannot inherit the other's heap.
Two memory numbers, both for one forward + backward after a warm-up step:

* torch peak: the high-water mark of bytes held by live torch CPU tensors, from the
  ``[memory]`` allocation/free events of ``torch.profiler`` (profile_memory=True), summed in
  time order. The inputs and parameters that exist before the step are not counted.
* RSS peak: the growth of the process's peak resident set (Linux VmHWM, reset through
  /proc/self/clear_refs before the step) over its resident set before the step. This is what
  the OS had to provide, allocator caching and fragmentation included.

Time: median wall-clock seconds of ``--repeats`` forward + backward steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]
from zipasr.losses import (  # noqa: E402
    boundary_from_lengths,
    do_rnnt_pruning,
    get_rnnt_prune_ranges,
    rnnt_loss,
    rnnt_loss_pruned,
    rnnt_loss_smoothed,
)

MiB = 2**20


def make_step(args: argparse.Namespace, variant: str) -> Callable[[], None]:
    gen = torch.Generator().manual_seed(0)
    batch, frames, tokens, vocab, dim = args.batch, args.frames, args.tokens, args.vocab, args.dim

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen).requires_grad_()

    am_joint, lm_joint = leaf(batch, frames, dim), leaf(batch, tokens + 1, dim)
    am_simple, lm_simple = leaf(batch, frames, vocab), leaf(batch, tokens + 1, vocab)
    output = torch.nn.Linear(dim, vocab)
    symbols = torch.randint(1, vocab, (batch, tokens), generator=gen)
    boundary = boundary_from_lengths(
        torch.full((batch,), frames, dtype=torch.int64),
        torch.full((batch,), tokens, dtype=torch.int64),
    )

    def join(am: torch.Tensor, lm: torch.Tensor) -> torch.Tensor:
        return output(torch.tanh(am + lm))

    def pruned_step() -> None:
        simple, (px_grad, py_grad) = rnnt_loss_smoothed(
            lm_simple, am_simple, symbols, 0, 0.25, 0.0, boundary, reduction="sum", return_grad=True
        )
        ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, args.prune_range)
        logits = join(*do_rnnt_pruning(am_joint, lm_joint, ranges))
        pruned = rnnt_loss_pruned(logits, symbols, ranges, 0, boundary, reduction="sum")
        (0.5 * simple + pruned).backward()

    def full_step() -> None:
        logits = join(am_joint.unsqueeze(2), lm_joint.unsqueeze(1))
        rnnt_loss(logits, symbols, 0, boundary, reduction="sum").backward()

    return pruned_step if variant == "pruned" else full_step


def torch_peak_bytes(step: Callable[[], None]) -> int:
    """High-water mark of live torch CPU allocations during one call of step."""
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True
    ) as prof:
        step()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for event in events:
        if event.device_type() == torch.autograd.DeviceType.CPU:
            live += event.nbytes()
            peak = max(peak, live)
    return peak


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_peak_bytes(step: Callable[[], None]) -> int:
    """Growth of the peak resident set over the resident set before one call of step."""
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
    before = _status_kib("VmRSS")
    step()
    return (_status_kib("VmHWM") - before) * 1024


def child(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.threads)
    step = make_step(args, args.variant)
    step()  # warm-up: one-time allocations (thread pools, kernels) are not the loss's
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    result = {
        "seconds": statistics.median(seconds),
        "rss": rss_peak_bytes(step),
        "torch": torch_peak_bytes(step),
    }
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--tokens", type=int, default=60)
    parser.add_argument("--vocab", type=int, default=500)
    parser.add_argument("--dim", type=int, default=512, help="joiner dim J")
    parser.add_argument("--prune-range", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variant", choices=("pruned", "full"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return
    results = {}
    for variant in ("pruned", "full"):
        command = [sys.executable, __file__, *sys.argv[1:], "--variant", variant]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
    print(
        f"B={args.batch} T={args.frames} U={args.tokens} V={args.vocab} J={args.dim} "
        f"S={args.prune_range}, forward + backward, {args.threads} thread(s), "
        f"torch {torch.__version__}"
    )
    print(f"{'':<24}{'pruned':>12}{'full':>12}{'full / pruned':>16}")
    rows = (
        ("torch peak (MiB)", "torch", MiB),
        ("RSS peak (MiB)", "rss", MiB),
        ("time (s, median)", "seconds", 1),
    )
    for label, key, unit in rows:
        pruned, full = results["pruned"][key] / unit, results["full"][key] / unit
        print(f"{label:<24}{pruned:>12.2f}{full:>12.2f}{full / pruned:>16.1f}")


if __name__ == "__main__":
    main()
