"""Encoder speed, zipasr vs the reference (PyPI `zipformer==0.1.3`), side by side in one run.

Both encoders get the same random weights and the same inputs; calls alternate between the
two so that machine noise hits both alike. Reported: median seconds per call and the ratio
reference / zipasr (> 1 means zipasr is faster).

    /tmp/refvenv/bin/python benchmarks/encoder_speed.py            # S and M, 2 threads
    /tmp/refvenv/bin/python benchmarks/encoder_speed.py --presets small --repeats 3
    /tmp/refvenv/bin/python benchmarks/encoder_speed.py --compile   # + zipasr compiled

``--compile`` adds zipasr's compiled inference path (``DecodeOptions(compile=True)``:
``torch.compile`` with dynamic lengths) to the inference rows, timed in the same rotation, and
prints its compile time: the first call at each input shape (the second shape of a preset
reuses the graph when only the length changed; a new batch size compiles again).

The reference must be installed in the running environment (tools/reference.py says how);
zipasr is imported from this checkout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
from benchmarks.speed import compiled_encoder_call  # noqa: E402
from benchmarks.suite import cpu_name  # noqa: E402
from tools.reference import ENCODER_PREFIXES, randomize, reference_asr_model  # noqa: E402
from zipasr import Zipformer, load_icefall_encoder  # noqa: E402
from zipasr.testing import random_features, random_state_dict  # noqa: E402

TRAINING_REF_BATCHES = 20_000.0
SHAPES = {"1 x 30 s": [3000], "8 x 10 s": [1000] * 8}


def build_pair(preset: str) -> tuple[torch.nn.Module, Zipformer]:
    torch.manual_seed(0)
    ref = reference_asr_model(preset)
    shapes = randomize(ref, ENCODER_PREFIXES)
    ours = load_icefall_encoder(random_state_dict(shapes))
    # Training-time regularisation depends on how far training is; put both at the same point
    # (the reference reads a batch_count set on its modules, zipasr an explicit clock).
    for module in ref.modules():
        if hasattr(module, "batch_count"):
            module.batch_count = TRAINING_REF_BATCHES
    ours.clock.ref_batches = TRAINING_REF_BATCHES
    return ref, ours


def time_pair(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["small", "medium"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--compile", action="store_true", help="also time zipasr's compiled inference path"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats}")
    print(f"CPU: {cpu_name()}")
    header = "| preset | input | mode | reference (s) | zipasr (s) | reference / zipasr |"
    if args.compile:
        header += " zipasr compiled (s) | reference / compiled | compile (s) |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for preset in args.presets:
        ref, ours = build_pair(preset)
        models = {"ref": ref.forward_encoder, "ours": ours}
        for shape_name, lengths in SHAPES.items():
            x, x_lens = random_features(lengths)
            for mode in ("inference", "train step"):
                ref.train(mode != "inference")
                ours.train(mode != "inference")
                step = infer if mode == "inference" else train_step
                fns = {k: partial(step, f, x, x_lens) for k, f in models.items()}
                row = ""
                if args.compile and mode == "inference":
                    compile_s, fns["compiled"] = compiled_inference(ours, x, x_lens)
                    row = " {compiled:.3f} | {ratio:.2f} | " + f"{compile_s:.0f} |"
                t = time_pair(fns, args.repeats)
                if row:
                    row = row.format(compiled=t["compiled"], ratio=t["ref"] / t["compiled"])
                elif args.compile:
                    row = " n/a | n/a | n/a |"
                print(
                    f"| {preset} | {shape_name} | {mode} | {t['ref']:.3f} | {t['ours']:.3f} "
                    f"| {t['ref'] / t['ours']:.2f} |" + row,
                    flush=True,
                )


def compiled_inference(
    encoder: Zipformer, x: torch.Tensor, x_lens: torch.Tensor
) -> tuple[float, Callable[[], object]]:
    """zipasr's compiled inference path on ``encoder`` and the seconds its first call took
    (the compile)."""
    run = compiled_encoder_call(encoder, x, x_lens)
    start = time.perf_counter()
    run()
    return time.perf_counter() - start, run


def infer(encode: Callable, x: torch.Tensor, x_lens: torch.Tensor) -> None:
    with torch.no_grad():
        encode(x, x_lens)


def train_step(encode: Callable, x: torch.Tensor, x_lens: torch.Tensor) -> None:
    out, _ = encode(x, x_lens)
    out.square().mean().backward()


if __name__ == "__main__":
    main()
