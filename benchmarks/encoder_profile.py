"""Where zipasr's encoder spends its time: the torch profiler's operator table for one call.

    python benchmarks/encoder_profile.py                        # Zipformer-M, 1 x 30 s, eval
    python benchmarks/encoder_profile.py --mode train --shape 8x10
    python benchmarks/encoder_profile.py --src /tmp/old/src     # another checkout's zipasr

Random weights (the encoder's own initialisation), random features; a training step is timed
as at batch 20,000 (as in encoder_speed.py), where the training-only regularisers fire rarely.
Prints the CPU model, the median time and page faults of a few calls outside the profiler,
and the operators by self CPU time. For a before/after comparison run it twice, once with
``--src`` pointing at the old code (``git archive OLD src | tar -x -C /tmp/old``), one run
after the other.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--shape", default="1x30", help="BATCHxSECONDS, e.g. 1x30 or 8x10")
    parser.add_argument("--mode", default="inference", choices=["inference", "train"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=25, help="operators to list")
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="zipasr to import")
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="glibc keeps freed memory (zipasr.keep_freed_memory, as the zipasr command does)",
    )
    args = parser.parse_args()
    sys.path[:0] = [str(args.src), str(ROOT)]

    import torch
    from torch.profiler import profile

    from benchmarks.speed import import_from_tree
    from benchmarks.suite import cpu_name
    from zipasr import Zipformer
    from zipasr.encoder.config import ZipformerConfig

    torch.set_num_threads(args.threads)
    if args.keep_freed_memory:
        # This checkout's module: the zipasr under --src may predate it.
        allocator = import_from_tree(ROOT / "src", "zipasr.allocator")
        if not allocator.keep_freed_memory():
            parser.error("--keep-freed-memory: this C library is not glibc")
    torch.manual_seed(0)
    batch, seconds = (int(v) for v in args.shape.lower().split("x"))
    frames = 100 * seconds
    encoder = Zipformer(getattr(ZipformerConfig, args.preset)())
    encoder.train(args.mode == "train")
    # Training-only regularisers fire less as training goes on: time a step well into it, as
    # encoder_speed.py does.
    encoder.clock.ref_batches = 20_000.0
    features = torch.randn(batch, frames, 80)
    lengths = torch.full((batch,), frames)

    def call() -> None:
        if args.mode == "train":
            out, _ = encoder(features, lengths)
            out.square().mean().backward()
        else:
            with torch.no_grad():
                encoder(features, lengths)

    call()
    times, faults = [], []
    for _ in range(args.repeats):
        before = minor_faults()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
        faults.append(minor_faults() - before)
    with profile() as prof:
        call()
    print(f"zipasr from {args.src}")
    kept = "; glibc keeps freed memory" if args.keep_freed_memory else ""
    print(f"CPU: {cpu_name()}; torch {torch.__version__}, {args.threads} threads{kept}")
    print(
        f"Zipformer-{args.preset}, {batch} x {seconds} s, {args.mode}: "
        f"median {statistics.median(times):.3f} s of {args.repeats}, "
        f"{statistics.median(faults):,.0f} page faults a call"
    )
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))


def minor_faults() -> int:
    """Page faults of this process so far (all its threads) that needed no disk: each is a
    page of fresh memory touched for the first time. 0 where the platform does not count."""
    try:
        import resource
    except ImportError:  # Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


if __name__ == "__main__":
    main()
