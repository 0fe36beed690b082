"""Encoder inference time, peak memory and FLOPs vs input length, and the machine's matmul peak.

    python -m benchmarks.speed [--models zipformer-s conformer-s zipformer-m conformer-m ...]
                               [--seconds 5 10 20 30 60] [--threads 2] [--repeats 3]

The default encoders are the paper's three size classes, each beside the standard Conformer
built to its encoder's parameter count (``ConformerConfig.small()``, ``medium()``, ``large()``,
within 1%): Zipformer-S / Conformer-S, Zipformer-M / Conformer-M, Zipformer-L / Conformer-L,
each at every default length (5-60 s). That is 30 measurements: 3.7 minutes on 2 cores
(2026-12-07, Intel Xeon), the L pair about half of it (a Conformer-L forward of 60 s took
6.6 s, a Zipformer-L one 1.5 s, and each measurement runs 5 forwards). Fewer lengths for the
L pair were weighed and not chosen: the short inputs cost little, leaving out 60 s would save
about a minute but drop the length at which the Conformer's attention over all frames costs
it most, and the size classes' ratios would then average over different lengths. The smoke
run (``--quick``) measures the S and M pairs only.

Each (model, input length) is measured in a fresh Python process, so that one measurement's
memory cannot hide another's. In that process: build the encoder (random init, eval mode), make
one utterance of random fbank (batch 1, 100 frames per second), run one untimed forward, then

- time: the median of ``repeats`` timed forwards under ``torch.no_grad()``;
- memory: on Linux, the process's resident-memory high-water mark (``VmHWM``) is reset through
  ``/proc/self/clear_refs`` after the untimed forward; peak = ``VmHWM`` after the timed
  forwards minus ``VmRSS`` before them, i.e. the memory inference needs on top of the weights
  and the input. Elsewhere, ``ru_maxrss`` after minus before (it cannot be reset, so a higher
  earlier peak can hide the inference's);
- FLOPs: one more forward under ``torch.utils.flop_counter.FlopCounterMode``, which counts
  matrix products and convolutions (two FLOPs per multiply-add) and nothing elementwise;
  in-place ``addmm_`` too, which its own table leaves out (:data:`IN_PLACE_FLOPS`).

The matmul peak is the best float32 ``A @ B`` rate over a few square sizes at the same thread
count, also in its own process. Standalone, this module prints a markdown table, and the
Conformer / Zipformer ratios of each size class whose two encoders it measured;
``python -m benchmarks`` runs it as part of the whole suite.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]

#: Each size class's Zipformer and the Conformer of its size, in the order of the tables.
PAIRS = {
    "S": ("zipformer-s", "conformer-s"),
    "M": ("zipformer-m", "conformer-m"),
    "L": ("zipformer-l", "conformer-l"),
}
#: Encoders measured by default, by the names used in tables and plots.
MODELS = tuple(name for pair in PAIRS.values() for name in pair)
#: The smoke run's encoders (``python -m benchmarks --quick``): the L pair's two 147 M-parameter
#: models would add half a minute of initialisation to a run whose numbers mean nothing.
QUICK_MODELS = PAIRS["S"] + PAIRS["M"]
#: Their names in tables and plots: "Zipformer-S", "Conformer-S", ...
LABELS = {
    name: f"{name.split('-')[0].title()}-{size}" for size, pair in PAIRS.items() for name in pair
}
SECONDS = (5.0, 10.0, 20.0, 30.0, 60.0)
FRAMES_PER_SECOND = 100


def import_from_tree(src: Path, module: str) -> Any:
    """``module`` of the zipasr package under ``src`` (another checkout's ``src/``, e.g. from
    ``git archive OLD src | tar -x -C /tmp/old``), imported beside this checkout's: its zipasr
    modules are loaded, kept alive by what they define, and taken out of ``sys.modules``
    again, so the two versions can be timed side by side in one process."""
    if not (src / "zipasr" / "__init__.py").is_file():
        raise SystemExit(f"--baseline-src {src}: no zipasr package there; give a src/ dir")
    ours = {k: v for k, v in sys.modules.items() if k == "zipasr" or k.startswith("zipasr.")}
    for name in ours:
        del sys.modules[name]
    sys.path.insert(0, str(src))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(src))
        for name in [k for k in sys.modules if k == "zipasr" or k.startswith("zipasr.")]:
            del sys.modules[name]
        sys.modules.update(ours)


def compiled_encoder_call(encoder: nn.Module, features: torch.Tensor, lengths: torch.Tensor) -> Any:
    """A no-argument callable running ``encoder`` on these inputs as ``zipasr transcribe
    --compile`` does (``zipasr.recognize.encode_features`` with ``DecodeOptions(compile=True)``);
    its first call compiles."""
    from zipasr.recognize import DecodeOptions, encode_features

    holder = SimpleNamespace(encode=encoder)  # all that encode_features uses of a model
    return partial(encode_features, holder, features, DecodeOptions(compile=True), lengths)


def build_encoder(name: str) -> nn.Module:
    """The encoder called ``name`` (see :data:`MODELS`), randomly initialised, in eval mode."""
    import zipasr
    from benchmarks.conformer import ConformerConfig, ConformerEncoder
    from zipasr.testing import tiny_config

    zipformers = {
        "zipformer-s": zipasr.ZipformerConfig.small,
        "zipformer-m": zipasr.ZipformerConfig.medium,
        "zipformer-l": zipasr.ZipformerConfig.large,
        "zipformer-tiny": tiny_config,  # for tests
    }
    conformers = {
        "conformer-s": ConformerConfig.small,
        "conformer-m": ConformerConfig.medium,
        "conformer-l": ConformerConfig.large,
        "conformer-tiny": partial(ConformerConfig, dim=32, num_layers=2, num_heads=2),
    }
    if name in zipformers:
        model: nn.Module = zipasr.Zipformer(zipformers[name]())
    elif name in conformers:
        model = ConformerEncoder(conformers[name]())
    else:
        raise ValueError(f"unknown model {name!r}; choose one of {MODELS}")
    return model.eval()


# --- memory ------------------------------------------------------------------------------


def _proc_status_kib(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


class PeakMemory:
    """Peak resident memory of this process over a block, above the level at its start (MiB).

    ``with PeakMemory() as peak: ...`` then ``peak.mib`` and ``peak.method``.
    """

    def __init__(self) -> None:
        self.mib = float("nan")
        self.method = ""
        self._start = 0

    def __enter__(self) -> PeakMemory:
        gc.collect()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to VmRSS (Linux)
            rss = _proc_status_kib("VmRSS")
        except OSError:
            rss = None
        if rss is not None:
            self.method, self._start = "VmHWM", rss
        else:
            self.method, self._start = "ru_maxrss", _maxrss_kib()
        return self

    def __exit__(self, *exc: object) -> None:
        end = _proc_status_kib("VmHWM") if self.method == "VmHWM" else _maxrss_kib()
        self.mib = max(0, (end or 0) - self._start) / 1024


def _maxrss_kib() -> int:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value // 1024 if sys.platform == "darwin" else value  # bytes on macOS


# --- one measurement (runs in the worker process) ------------------------------------------


def _addmm_in_place_flops(
    self_shape: torch.Size, a_shape: torch.Size, b_shape: torch.Size, *args: Any, **kwargs: Any
) -> int:
    """FLOPs of ``self.addmm_(a, b)``: (M, K) @ (K, N), two per multiply-add (torch's
    ``addmm_flop`` rule, which its table registers for the out-of-place op only)."""
    (m, k), (_, n) = a_shape, b_shape
    return 2 * m * k * n


#: Products that FlopCounterMode's table leaves out: in-place ``addmm_``, which the blockwise
#: ConvNeXt uses for its second 1x1 convolution (Zipformer-M, 30 s: 2.8 of 62.6 GFLOP).
IN_PLACE_FLOPS = {torch.ops.aten.addmm_: _addmm_in_place_flops}


def measure_encoder(name: str, seconds: float, threads: int, repeats: int) -> dict[str, Any]:
    """Time, peak memory and FLOPs of one encoder on one utterance of ``seconds``."""
    from torch.utils.flop_counter import FlopCounterMode

    from zipasr.testing import random_features

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_encoder(name)
    frames = int(round(seconds * FRAMES_PER_SECOND))
    features, lengths = random_features([frames])
    with torch.no_grad():
        model(features, lengths)  # warm-up: allocator pools, lazy initialisation
        times = []
        with PeakMemory() as peak:
            for _ in range(repeats):
                start = time.perf_counter()
                model(features, lengths)
                times.append(time.perf_counter() - start)
        with FlopCounterMode(display=False, custom_mapping=IN_PLACE_FLOPS) as counter:
            model(features, lengths)
    median = statistics.median(times)
    flops = counter.get_total_flops()
    return {
        "model": name,
        "label": LABELS.get(name, name),
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds": seconds,
        "threads": threads,
        "times_s": times,
        "median_s": median,
        "rtf": median / seconds,
        "peak_mib": peak.mib,
        "memory_method": peak.method,
        "flops": flops,
        "flops_per_audio_s": flops / seconds,
        "achieved_flops_per_s": flops / median,
    }


def measure_matmul_peak(threads: int, sizes: tuple[int, ...], repeats: int) -> dict[str, Any]:
    """Best float32 square-matmul rate (FLOP/s) over ``sizes`` at ``threads`` threads."""
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    best: dict[str, Any] = {"flops_per_s": 0.0, "size": 0, "threads": threads}
    for n in sizes:
        a = torch.randn(n, n, generator=gen)
        b = torch.randn(n, n, generator=gen)
        out = torch.empty(n, n)
        torch.matmul(a, b, out=out)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.matmul(a, b, out=out)
            times.append(time.perf_counter() - start)
        fastest = min(times)
        rate = 2.0 * n**3 / fastest
        if rate > best["flops_per_s"]:
            best = {"flops_per_s": rate, "size": n, "threads": threads, "seconds": fastest}
    return best


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    if spec["kind"] == "encoder":
        return measure_encoder(spec["model"], spec["seconds"], spec["threads"], spec["repeats"])
    if spec["kind"] == "matmul":
        return measure_matmul_peak(spec["threads"], tuple(spec["sizes"]), spec["repeats"])
    raise ValueError(f"unknown worker kind {spec['kind']!r}")


# --- orchestration (runs in the parent process) --------------------------------------------

RESULT_PREFIX = "BENCHMARK-RESULT "


def subprocess_env() -> dict[str, str]:
    """The environment for worker processes: this checkout first on the import path."""
    env = dict(os.environ)
    paths = [str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def run_in_subprocess(module: str, spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Runs ``python -m module --worker SPEC`` in a fresh process; its result dict."""
    done = subprocess.run(
        [sys.executable, "-m", module, "--worker", json.dumps(spec)],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            return result
    raise RuntimeError(
        f"{module} worker {spec} failed (exit {done.returncode}):\n"
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )


def run_speed(
    models: tuple[str, ...] = MODELS,
    seconds: tuple[float, ...] = SECONDS,
    threads: int = 2,
    repeats: int = 3,
    matmul_sizes: tuple[int, ...] = (1024, 2048, 4096),
    log: Any = print,
) -> dict[str, Any]:
    """All measurements, each in its own process: ``{"encoders": [...], "matmul": {...}}``."""
    matmul = run_in_subprocess(
        "benchmarks.speed",
        {"kind": "matmul", "threads": threads, "sizes": list(matmul_sizes), "repeats": 5},
        timeout_s=600,
    )
    log(
        f"matmul peak: {matmul['flops_per_s'] / 1e9:.1f} GFLOP/s "
        f"(float32, {matmul['size']}^2, torch threads: {threads})"
    )
    rows = []
    for name in models:
        for s in seconds:
            spec = {"kind": "encoder", "model": name, "seconds": s, "threads": threads}
            row = run_in_subprocess("benchmarks.speed", {**spec, "repeats": repeats}, 1800)
            row["peak_fraction"] = row["achieved_flops_per_s"] / matmul["flops_per_s"]
            log(
                f"{row['label']:12s} {s:5.0f} s: {row['median_s'] * 1e3:8.1f} ms, "
                f"peak {row['peak_mib']:7.1f} MiB, {row['flops'] / 1e9:7.1f} GFLOP, "
                f"{100 * row['peak_fraction']:4.1f}% of matmul peak"
            )
            rows.append(row)
    return {"encoders": rows, "matmul": matmul, "threads": threads, "repeats": repeats}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--seconds", nargs="+", type=float, default=list(SECONDS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: one measurement
    args = parser.parse_args(argv)
    if args.worker:
        print(RESULT_PREFIX + json.dumps(worker(json.loads(args.worker))), flush=True)
        return
    from benchmarks.report import ratio_table, speed_ratios, speed_table

    result = run_speed(tuple(args.models), tuple(args.seconds), args.threads, args.repeats)
    print(speed_table(result))
    ratios = speed_ratios(result)
    if ratios:  # some size class's Zipformer and Conformer were both measured
        print(ratio_table(ratios))


if __name__ == "__main__":
    main()
