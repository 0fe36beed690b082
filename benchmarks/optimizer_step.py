"""Step time of ScaledAdam vs torch.optim.Adam on the Zipformer-M parameter set.

    python benchmarks/optimizer_step.py [--steps 12] [--threads 1] [--reference]

The parameters are those of ``zipasr.Zipformer(zipasr.ZipformerConfig.medium())``; if that
cannot be built, the same shapes from a table (spec Appendix A, encoder_embed.* and encoder.*).
Gradients are random and fixed. ScaledAdam runs the recipe settings (clipping_scale 2.0); the
timed steps start after the early clipping-threshold estimates and cover a multiple of
size_update_period, so the periodic size update is included in the average. ``--reference``
also times icefall's ScaledAdam if the `zipformer` package (0.1.3) can be imported.

It runs on one thread by default: on a shared machine, ops that wait for a busy second thread
took 100x longer and the numbers meant nothing. Use ``--threads`` on a machine of your own.
The timed steps are early ones (step < 227), which still pay for Adam's bias correction.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import torch

# Zipformer-M encoder parameter shapes: "count x shape" (shape "" is 0-dim).
M_SHAPES = """
17x 3x2 2x4 2x8 1x8,1,3,3 12x16,48 1x32 1x32,8,3,3 4x32,48 24x48 4x48,192 8x48,256 12x48,384
8x96 8x96,512 3x128 1x128,1,7,7 1x128,32,3,3 1x128,384,1,1 30x192 4x192,1,31 4x192,48
2x192,144 4x192,192 2x192,384 2x192,512 2x192,640 1x192,2432 58x256 8x256,1,31 8x256,48
4x256,192 8x256,256 4x256,576 4x256,768 4x256,960 12x272 2x272,192 4x272,256 6x272,384 93x384
12x384,1,15 12x384,48 1x384,128,1,1 6x384,192 6x384,288 12x384,384 6x384,768 6x384,1024
6x384,1280 2x432 2x432,192 67x512 8x512,1,15 8x512,96 2x512,192 8x512,256 4x512,384 8x512,512
4x512,1152 4x512,1536 4x512,1920 4x544 4x544,512 8x576 8x576,256 2x640 2x640,192 22x768
4x768,256 18x768,384 6x864 6x864,384 4x960 4x960,256 14x1024 6x1024,384 8x1024,512 8x1152
8x1152,512 6x1280 6x1280,384 4x1536 4x1536,512 4x1920 4x1920,512
"""
M_NUM_PARAMS = 63_994_103


def table_shapes() -> list[tuple[int, ...]]:
    shapes = []
    for item in M_SHAPES.split():
        count, _, dims = item.partition("x")
        shapes += [tuple(int(d) for d in dims.split(",") if d)] * int(count)
    return shapes


def zipformer_m_shapes() -> tuple[list[tuple[int, ...]], str]:
    try:
        import zipasr

        model = zipasr.Zipformer(zipasr.ZipformerConfig.medium())
        return [tuple(p.shape) for p in model.parameters()], "zipasr.Zipformer(medium())"
    except Exception as error:  # noqa: BLE001 - fall back to the table, and say so
        return table_shapes(), f"shape table (zipasr.Zipformer unavailable: {error!r})"


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


def reference_scaled_adam() -> Callable[..., torch.optim.Optimizer] | None:
    """icefall's ScaledAdam from the `zipformer` package, its training imports stubbed."""
    spec = importlib.util.find_spec("zipformer")
    if spec is None or spec.origin is None:
        return None
    for name, attributes in {
        "atdataset": ("SpecAugment", "time_warp", "fix_random_seed"),
        "kaldialign": (),
        "torch.utils.tensorboard": ("SummaryWriter",),
    }.items():
        module = types.ModuleType(name)
        for attribute in attributes:
            setattr(module, attribute, object)
        sys.modules.setdefault(name, module)
    package = types.ModuleType("zipformer")
    package.__path__ = [str(Path(spec.origin).parent)]
    sys.modules["zipformer"] = package
    return importlib.import_module("zipformer.modules.optim").ScaledAdam


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="timed steps (multiple of 4)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--reference", action="store_true", help="also time icefall's version")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from zipasr.optim import ScaledAdam

    shapes, source = zipformer_m_shapes()
    numel = sum(math.prod(s) for s in shapes)
    print(f"parameters: {len(shapes)} tensors, {numel:,} elements, from {source}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    candidates: dict[str, Callable[[list], torch.optim.Optimizer]] = {
        "Adam (foreach=False)": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=False),
        "Adam (foreach=True)": lambda ps: torch.optim.Adam(ps, lr=1e-3, foreach=True),
        "zipasr ScaledAdam": lambda ps: ScaledAdam(ps, lr=0.045, clipping_scale=2.0),
    }
    if args.reference:
        reference = reference_scaled_adam()
        if reference is None:
            print("reference: the zipformer package is not importable; skipped")
        else:
            candidates["reference ScaledAdam"] = lambda ps: reference(
                ps, lr=0.045, clipping_scale=2.0
            )
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
