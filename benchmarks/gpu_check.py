"""One short GPU readiness check: CPU/GPU agreement, mixed-precision training, timings.

    python benchmarks/gpu_check.py --out gpu_check.json            # on a CUDA machine
    python benchmarks/gpu_check.py --device cpu --quick            # the same code path on CPU

Sections (each result is printed as one line and stored in the JSON written to --out):

1. agreement: Zipformer-S's encoder output and an S transducer+CTC model's losses (eval mode,
   random weights) computed on the CPU in fp32 and on the device in fp32 (TF32 off): the
   largest absolute and relative differences.
2. precision: ``--steps`` training steps of S and M (transducer + CTC, ScaledAdam + Eden,
   zipasr's :class:`~zipasr.train.step.Learner`) in bf16 and in fp16 with the grad scaler:
   every loss finite, and the fp16 grad scale never below the recipe's warning threshold.
   fp16 needs CUDA: on a CPU it is reported as skipped.
3. timing (median of ``--repeats``, device synchronised): encoder inference on 1 x 30 s and
   8 x 10 s, a training step (bf16 where the device has it) and the pure-PyTorch pruned RNN-T
   loss (forward + backward, B=8, T=250, U=60, V=500). With ``--reference`` and the reference
   package (``zipformer==0.1.3``, tools/reference.py) importable, its encoder is timed beside
   ours on the same device; its pruned loss needs k2, which is not attempted. With
   ``--compile``, zipasr's compiled inference path (``DecodeOptions(compile=True)``) is timed
   on the same inputs, with each shape's compile time (minutes per model and batch size).

Runs in a few minutes on a GPU; ``--quick`` (tiny models, one repeat) is for testing the
script itself. The device's name, torch and CUDA versions are printed first.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
from zipasr import AsrModel, AsrModelConfig, TransducerConfig, ZipformerConfig  # noqa: E402
from zipasr.data import collate  # noqa: E402
from zipasr.losses import (  # noqa: E402
    boundary_from_lengths,
    do_rnnt_pruning,
    get_rnnt_prune_ranges,
    rnnt_loss_pruned,
    rnnt_loss_smoothed,
)
from zipasr.optim import Eden, ScaledAdam  # noqa: E402
from zipasr.testing import random_features  # noqa: E402
from zipasr.train.config import LossConfig  # noqa: E402
from zipasr.train.precision import WARN_SCALE, resolve_precision  # noqa: E402
from zipasr.train.step import Learner  # noqa: E402

VOCAB = 500


def describe(device: torch.device) -> dict[str, Any]:
    """The machine: device name, torch/CUDA versions and the host CPU."""
    info: dict[str, Any] = {"torch": torch.__version__, "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["bf16"] = torch.cuda.is_bf16_supported()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        names = [
            line.split(":", 1)[1].strip() for line in lscpu.splitlines() if "Model name" in line
        ]
        info["cpu"] = names[0] if names else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    return info


def encoder_config(preset: str, quick: bool) -> ZipformerConfig:
    return ZipformerConfig.tiny() if quick else getattr(ZipformerConfig, preset)()


def asr_model(preset: str, quick: bool, seed: int = 0) -> AsrModel:
    torch.manual_seed(seed)
    dim = 32 if quick else 512
    config = AsrModelConfig(
        encoder_config(preset, quick), VOCAB, TransducerConfig(dim, dim), ctc=True
    )
    return AsrModel(config)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    fn()  # warm-up (allocator, kernels, autotuning)
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _difference(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    abs_diff = float((a - b).abs().max())
    return {"max_abs": abs_diff, "max_rel": abs_diff / max(float(a.abs().max()), 1e-30)}


def check_agreement(device: torch.device, quick: bool) -> dict[str, Any]:
    """Encoder output and losses, CPU fp32 vs device fp32."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    lengths = [300, 240] if quick else [1000, 800, 600, 400]
    x, x_lens = random_features(lengths, seed=1)
    gen = torch.Generator().manual_seed(2)
    targets = [torch.randint(1, VOCAB, (n // 40,), generator=gen).tolist() for n in lengths]
    model = asr_model("small", quick).eval()
    results: dict[str, Any] = {}
    with torch.no_grad():
        cpu_out, _ = model.encode(x, x_lens)
        cpu_losses = model(x, x_lens, targets)
        model.to(device)
        dev_out, _ = model.encode(x.to(device), x_lens.to(device))
        dev_losses = model(x.to(device), x_lens.to(device), targets)
    results["encoder"] = _difference(cpu_out, dev_out)
    for name in ("simple", "pruned", "ctc"):
        results[f"loss_{name}"] = _difference(
            getattr(cpu_losses, name).reshape(1), getattr(dev_losses, name).reshape(1)
        )
    return results


def _batches(quick: bool, count: int, seed: int) -> list:
    gen = torch.Generator().manual_seed(seed)
    lengths = [300, 250] if quick else [1000] * 8  # 8 x 10 s
    out = []
    for i in range(count):
        x, _ = random_features(lengths, seed=seed + i)
        tokens = [torch.randint(1, VOCAB, (n // 30,), generator=gen).tolist() for n in lengths]
        ids = [str(j) for j in range(len(lengths))]
        out.append(collate([x[j, :n] for j, n in enumerate(lengths)], tokens, ids, ids))
    return out


def make_learner(preset: str, precision: str, device: torch.device, quick: bool) -> Learner:
    """A fresh model of ``preset`` on ``device`` with ScaledAdam + Eden at the recipe's settings,
    training in ``precision`` (fp32, bf16 or fp16)."""
    model = asr_model(preset, quick).to(device)
    optimizer = ScaledAdam(model.named_parameters(), lr=0.045, clipping_scale=2.0)
    return Learner(
        model=model,
        optimizer=optimizer,
        scheduler=Eden(optimizer, 7500.0, 3.5),
        precision=resolve_precision(precision, device),
        device=device,
        loss=LossConfig(ctc_loss_scale=0.2),
        max_duration_s=80.0,
    )


def check_precision(
    preset: str, precision_name: str, device: torch.device, steps: int, quick: bool
) -> dict[str, Any]:
    """``steps`` training steps in ``precision_name``: losses, finiteness, the grad scale."""
    if precision_name == "fp16" and device.type != "cuda":
        return {"skipped": "fp16 needs a CUDA device"}
    if precision_name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return {"skipped": "this GPU has no bf16"}
    learner = make_learner(preset, precision_name, device, quick)
    losses, scales = [], []
    for step, batch in enumerate(_batches(quick, steps, seed=10), start=1):
        stats = learner.step([batch], step, (None, None))
        losses.append(stats.loss / max(stats.frames, 1))
        if learner.precision.scaler is not None:
            scales.append(float(learner.precision.scaler.get_scale()))
    finite = all(math.isfinite(v) for v in losses)
    result: dict[str, Any] = {
        "loss_per_frame_first": losses[0],
        "loss_per_frame_last": losses[-1],
        "all_finite": finite,
        "ok": finite and all(s >= WARN_SCALE for s in scales),
    }
    if scales:
        result["grad_scale_min"] = min(scales)
        result["grad_scale_last"] = scales[-1]
    return result


def encoder_shapes(quick: bool) -> dict[str, list[int]]:
    """The timed inputs, by name: 1 x 30 s and 8 x 10 s (a tenth of that with ``quick``)."""
    scale = 100 if quick else 1000
    return {"1x30s": [3 * scale], "8x10s": [scale] * 8}


def presets(quick: bool) -> tuple[str, ...]:
    return ("small",) if quick else ("small", "medium")


def encoder_inputs(
    device: torch.device, quick: bool
) -> Iterator[tuple[str, torch.nn.Module, torch.Tensor, torch.Tensor]]:
    """(preset and shape name, zipasr encoder in eval mode, features, lengths) on ``device``
    for each preset and shape; the encoder is made once per preset, after seed 0."""
    from zipasr import Zipformer

    for preset in presets(quick):
        torch.manual_seed(0)
        encoder = Zipformer(encoder_config(preset, quick)).to(device).eval()
        for name, lengths in encoder_shapes(quick).items():
            x, x_lens = random_features(lengths)
            yield f"{preset} {name}", encoder, x.to(device), x_lens.to(device)


def time_encoder(device: torch.device, quick: bool, repeats: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, encoder, x, x_lens in encoder_inputs(device, quick):
        with torch.no_grad():
            out[key] = median_seconds(partial(encoder, x, x_lens), device, repeats)
    return out


def time_compiled_encoder(device: torch.device, quick: bool, repeats: int) -> dict[str, Any]:
    """Median seconds of the compiled encoder (``DecodeOptions(compile=True)``) per preset
    and shape, and the seconds of each shape's first call (its compile)."""
    from benchmarks.speed import compiled_encoder_call

    seconds: dict[str, float] = {}
    compile_s: dict[str, float] = {}
    for key, encoder, x, x_lens in encoder_inputs(device, quick):
        run = compiled_encoder_call(encoder, x, x_lens)
        start = time.perf_counter()
        run()
        synchronize(device)
        compile_s[key] = time.perf_counter() - start
        seconds[key] = median_seconds(run, device, repeats)
    return {"seconds": seconds, "compile_s": compile_s}


def time_reference_encoder(device: torch.device, quick: bool, repeats: int) -> dict[str, Any]:
    try:
        from tools.reference import ENCODER_PREFIXES, randomize, reference_asr_model

        import_ok = True
    except (ImportError, SystemExit):  # pragma: no cover - only with the reference installed
        import_ok = False
    if not import_ok:
        return {"skipped": "the reference package is not importable (tools/reference.py)"}
    out: dict[str, Any] = {}
    for preset in presets(quick):
        try:
            torch.manual_seed(0)
            ref = reference_asr_model(preset)
        except SystemExit:
            return {"skipped": "the reference package is not installed (tools/reference.py)"}
        randomize(ref, ENCODER_PREFIXES)
        ref = ref.to(device).eval()
        for name, lengths in encoder_shapes(False).items():  # the reference has no tiny model
            x, x_lens = random_features(lengths)
            x, x_lens = x.to(device), x_lens.to(device)
            with torch.no_grad():
                out[f"{preset} {name}"] = median_seconds(
                    partial(ref.forward_encoder, x, x_lens), device, repeats
                )
    return out


def time_training_step(device: torch.device, quick: bool, repeats: int) -> dict[str, float]:
    bf16 = device.type != "cuda" or torch.cuda.is_bf16_supported()
    name = "bf16" if bf16 else "fp16"
    out = {}
    for preset in presets(quick):
        learner = make_learner(preset, name, device, quick)
        batch = _batches(quick, 1, seed=20)[0]
        out[f"{preset} 8x10s {name}"] = median_seconds(
            partial(_numbered_steps, learner, batch, iter(range(1, 10_000))), device, repeats
        )
    return out


def _numbered_steps(learner: Learner, batch: Any, counter: Iterator[int]) -> None:
    learner.step([batch], next(counter), (None, None))


def time_pruned_loss(device: torch.device, quick: bool, repeats: int) -> float:
    batch, frames, tokens, dim = (2, 50, 10, 32) if quick else (8, 250, 60, 512)
    gen = torch.Generator().manual_seed(0)

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen).to(device).requires_grad_()

    am_joint, lm_joint = leaf(batch, frames, dim), leaf(batch, tokens + 1, dim)
    am_simple, lm_simple = leaf(batch, frames, VOCAB), leaf(batch, tokens + 1, VOCAB)
    output = torch.nn.Linear(dim, VOCAB).to(device)
    symbols = torch.randint(1, VOCAB, (batch, tokens), generator=gen).to(device)
    boundary = boundary_from_lengths(
        torch.full((batch,), frames, dtype=torch.int64),
        torch.full((batch,), tokens, dtype=torch.int64),
    ).to(device)

    def step() -> None:
        simple, (px_grad, py_grad) = rnnt_loss_smoothed(
            lm_simple, am_simple, symbols, 0, 0.25, 0.0, boundary, reduction="sum", return_grad=True
        )
        ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, 5)
        am, lm = do_rnnt_pruning(am_joint, lm_joint, ranges)
        pruned = rnnt_loss_pruned(
            output(torch.tanh(am + lm)), symbols, ranges, 0, boundary, reduction="sum"
        )
        (0.5 * simple + pruned).backward()

    return median_seconds(step, device, repeats)


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = torch.device(args.device)
    report: dict[str, Any] = {"machine": describe(device), "quick": args.quick}
    print(json.dumps(report["machine"]))

    report["agreement"] = check_agreement(device, args.quick)
    for name, diff in report["agreement"].items():
        print(f"agreement {name}: max abs {diff['max_abs']:.3g}, max rel {diff['max_rel']:.3g}")

    report["precision"] = {}
    for preset in presets(args.quick):
        for precision in ("bf16", "fp16"):
            key = f"{preset} {precision}"
            result = check_precision(preset, precision, device, args.steps, args.quick)
            report["precision"][key] = result
            print(f"precision {key}: {json.dumps(result)}")

    timing: dict[str, Any] = {
        "encoder_inference_s": time_encoder(device, args.quick, args.repeats),
        "training_step_s": time_training_step(device, args.quick, args.repeats),
        "pruned_rnnt_loss_s": time_pruned_loss(device, args.quick, args.repeats),
    }
    if args.compile:
        timing["compiled_encoder_inference"] = time_compiled_encoder(
            device, args.quick, args.repeats
        )
    if args.reference:
        timing["reference_encoder_inference_s"] = time_reference_encoder(
            device, args.quick, args.repeats
        )
    report["timing"] = timing
    for name, value in timing.items():
        print(f"timing {name}: {json.dumps(value)}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--steps", type=int, default=20, help="training steps per precision")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny models, for testing the script")
    parser.add_argument("--reference", action="store_true", help="also time the reference encoder")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument(
        "--compile", action="store_true", help="also time the compiled encoder (compiles first)"
    )
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device here; nothing checked "
            "(run with --device cpu to try the script)"
        )
        return 0
    if args.quick:
        args.repeats, args.steps = 1, min(args.steps, 3)
    report = run(args)
    failed = [k for k, v in report["precision"].items() if "skipped" not in v and not v["ok"]]
    if args.out is not None:
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        tmp.replace(args.out)
    if failed:
        print(f"gpu_check: FAILED precision checks: {', '.join(failed)}")
        return 1
    print("gpu_check: done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
