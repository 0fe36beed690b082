"""Encoder speed, zipasr vs the reference (PyPI `zipformer==0.1.3`), side by side in one run.

Both encoders get the same random weights and the same inputs; calls alternate between the
two so that machine noise hits both alike. Reported: median seconds per call and the ratio
reference / zipasr (> 1 means zipasr is faster).

Each candidate runs in a process of its own (as a user runs one library), and the parent
process tells them in turn to make one call. In one shared process the candidates also share
the C allocator: what one frees changes how the other's large tensors are mapped and
page-faulted, which on some hosts moved the ratio by 20%. ``--same-process`` keeps everything
in one process (the method of the README's numbers until 2026-12-06).

    /tmp/refvenv/bin/python benchmarks/encoder_speed.py            # S and M, 2 threads
    /tmp/refvenv/bin/python benchmarks/encoder_speed.py --presets small --repeats 3
    /tmp/refvenv/bin/python benchmarks/encoder_speed.py --compile   # + zipasr compiled
    /tmp/refvenv/bin/python benchmarks/encoder_speed.py --baseline-src /tmp/old/src

``--compile`` adds zipasr's compiled inference path (``DecodeOptions(compile=True)``:
``torch.compile`` with dynamic lengths) to the inference rows, timed in the same rotation, and
prints its compile time: the first call at each input shape (the second shape of a preset
reuses the graph when only the length changed; a new batch size compiles again). The compiled
candidate's process starts with an empty inductor cache (a fresh ``TORCHINDUCTOR_CACHE_DIR``),
so that is the time of a first compile on the machine; with ``--warm-compile-cache`` it uses
the usual cache, as a second run of ``zipasr transcribe --compile`` would.

``--keep-freed-memory`` makes glibc keep freed memory in every candidate's process, the
reference's included (``zipasr.keep_freed_memory``, which the ``zipasr`` command sets).
Even without it the candidates pay few page faults: each worker builds its encoder from a
random state dict and frees as much, and glibc then serves later tensors, those above 32 MiB
included, from that free memory inside its heap (Zipformer-M 1 x 30 s inference: 0 faults a
call, against about 34,000 for an encoder built in place or loaded with ``zipasr.load``;
Intel Xeon, 2026-12-07). That is close to a process that copied a checkpoint into its model
(``load_state_dict``) and freed it; changes that only remove page faults show here as nothing.
``--trim-after-build`` gives that free memory back to the system once each candidate is built
(``malloc_trim``), so that every candidate runs as in a process that loaded its model with
``zipasr.load`` (which leaves none) and pays the faults glibc's defaults cost.

``--baseline-src`` adds another checkout's zipasr (``git archive OLD src | tar -x -C /tmp/old``)
with the same weights to the same rotation: a before/after comparison in one run, with the
reference as a third point.

The reference must be installed in the running environment (tools/reference.py says how);
zipasr is imported from this checkout.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Literal

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
from benchmarks.speed import compiled_encoder_call, import_from_tree  # noqa: E402
from benchmarks.suite import cpu_name  # noqa: E402
from tools.reference import ENCODER_PREFIXES, randomize, reference_asr_model  # noqa: E402
from zipasr import keep_freed_memory, load_icefall_encoder  # noqa: E402
from zipasr.allocator import return_freed_memory  # noqa: E402
from zipasr.testing import random_features, random_state_dict  # noqa: E402

TRAINING_REF_BATCHES = 20_000.0
#: A candidate process's memory: glibc's defaults, ``--keep-freed-memory``, ``--trim-after-build``.
Memory = Literal["as built", "keep", "trim"]
INDUCTOR_CACHE = "TORCHINDUCTOR_CACHE_DIR"
SHAPES = {"1 x 30 s": [3000], "8 x 10 s": [1000] * 8}


def build(kind: str, preset: str, baseline_src: Path | None = None) -> torch.nn.Module:
    """The encoder of one candidate, with the weights all candidates share: "ref" (the
    reference's ASR model; call its ``forward_encoder``), "ours" or "compiled" (this
    checkout's zipasr), "baseline" (the zipasr under ``baseline_src``)."""
    torch.manual_seed(0)
    ref = reference_asr_model(preset)
    shapes = randomize(ref, ENCODER_PREFIXES)
    if kind == "ref":
        # Training-time regularisation depends on how far training is; put all at the same
        # point (the reference reads a batch_count set on its modules, zipasr a clock).
        for module in ref.modules():
            if hasattr(module, "batch_count"):
                module.batch_count = TRAINING_REF_BATCHES
        return ref
    if kind == "compiled":
        # import_reference sets TORCH_COMPILE_DISABLE (for the reference's own compiled
        # Swoosh), which torch.compile obeys process-wide: without this, zipasr's "compiled"
        # path ran eagerly in every measurement before this was added.
        os.environ.pop("TORCH_COMPILE_DISABLE", None)
        torch._dynamo.config.disable = False
    if kind == "baseline":
        assert baseline_src is not None
        load = import_from_tree(baseline_src, "zipasr").load_icefall_encoder
    else:
        load = load_icefall_encoder
    encoder = load(random_state_dict(shapes))
    encoder.clock.ref_batches = TRAINING_REF_BATCHES
    return encoder  # type: ignore[no-any-return]


class Candidate:
    """One candidate's calls, made here (``same_process``) or by a worker process of its own.

    ``prepare(lengths, mode)`` makes the inputs and does a first call (for "compiled", the
    compile), returning its seconds; ``call()`` times one more call. ``memory``: "as built"
    (glibc's defaults), "keep" (``--keep-freed-memory``) or "trim" (``--trim-after-build``).
    """

    def __init__(
        self,
        kind: str,
        preset: str,
        threads: int,
        baseline_src: Path | None,
        same_process: bool,
        warm_compile_cache: bool = False,
        memory: Memory = "as built",
    ) -> None:
        self.kind = kind
        if same_process:
            self.worker = None
            self.runner = Runner(kind, preset, threads, baseline_src, memory)
        else:
            context = multiprocessing.get_context("spawn")
            self.pipe, child = context.Pipe()
            self.worker = context.Process(
                target=serve,
                args=(child, kind, preset, threads, baseline_src, memory),
                daemon=True,
            )
            # Inductor reads its cache folder when torch is imported: the worker gets an empty
            # one in its environment, so that its compile time is a first compile's.
            cold = kind == "compiled" and not warm_compile_cache
            saved = os.environ.get(INDUCTOR_CACHE)
            if cold:
                cache = tempfile.mkdtemp(prefix="zipasr-inductor-")
                atexit.register(shutil.rmtree, cache, ignore_errors=True)
                os.environ[INDUCTOR_CACHE] = cache
            try:
                self.worker.start()
            finally:
                if cold and saved is None:
                    del os.environ[INDUCTOR_CACHE]
                elif cold:
                    os.environ[INDUCTOR_CACHE] = saved  # type: ignore[assignment]
            child.close()  # the worker's end; the parent keeps its own

    def _ask(self, *message: object) -> float:
        if self.worker is None:
            return getattr(self.runner, str(message[0]))(*message[1:])  # type: ignore[no-any-return]
        self.pipe.send(message)
        while not self.pipe.poll(5.0):  # a worker that died would leave recv() waiting
            if not self.worker.is_alive():
                raise RuntimeError(f"{self.kind}: the worker process exited")
        answer = self.pipe.recv()
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]

    def prepare(self, lengths: list[int], mode: str) -> float:
        return self._ask("prepare", lengths, mode)

    def call(self) -> float:
        return self._ask("call")

    def close(self) -> None:
        if self.worker is None:
            return
        try:
            self.pipe.send(("close",))
        except OSError:  # already gone
            pass
        self.worker.join(timeout=60)
        if self.worker.is_alive():
            self.worker.terminate()


class Runner:
    """Makes a candidate's calls in the current process."""

    def __init__(
        self,
        kind: str,
        preset: str,
        threads: int,
        baseline_src: Path | None,
        memory: Memory = "as built",
    ) -> None:
        torch.set_num_threads(threads)
        if memory == "keep" and not keep_freed_memory():
            raise RuntimeError("--keep-freed-memory: this C library is not glibc")
        self.kind = kind
        self.encoder = build(kind, preset, baseline_src)
        if memory == "trim":
            gc.collect()
            return_freed_memory()
        self.run: Callable[[], object] = lambda: None

    def prepare(self, lengths: list[int], mode: str) -> float:
        x, x_lens = random_features(lengths)
        self.encoder.train(mode != "inference")
        if self.kind == "compiled":
            self.run = compiled_encoder_call(self.encoder, x, x_lens)
        else:
            encode = self.encoder.forward_encoder if self.kind == "ref" else self.encoder
            self.run = partial(infer if mode == "inference" else train_step, encode, x, x_lens)
        return self.call()

    def call(self) -> float:
        start = time.perf_counter()
        self.run()
        return time.perf_counter() - start


def serve(
    pipe,
    kind: str,
    preset: str,
    threads: int,
    baseline_src: Path | None,
    memory: Memory,
) -> None:  # type: ignore[no-untyped-def]
    """A worker process's loop: one :class:`Runner`, answering the parent's messages."""
    try:
        runner = Runner(kind, preset, threads, baseline_src, memory)
    except BaseException as error:  # reported at the first message
        runner, failure = None, error
    while True:
        name, *args = pipe.recv()
        if name == "close":
            return
        try:
            if runner is None:
                raise failure
            pipe.send(getattr(runner, name)(*args))
        except BaseException as error:
            pipe.send(RuntimeError(f"{kind}: {error!r}"))


def time_rotation(candidates: dict[str, Candidate], repeats: int) -> dict[str, float]:
    """Median seconds per call of each candidate, taking turns one call at a time."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, candidate in candidates.items():
            times[name].append(candidate.call())
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["small", "medium"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--compile", action="store_true", help="also time zipasr's compiled inference path"
    )
    parser.add_argument(
        "--warm-compile-cache",
        action="store_true",
        help="let the compiled path use inductor's usual cache (default: an empty one)",
    )
    parser.add_argument(
        "--same-process", action="store_true", help="run all candidates in this process"
    )
    parser.add_argument(
        "--baseline-src", type=Path, help="also time the zipasr under this src/ (before/after)"
    )
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="glibc keeps freed memory in every candidate's process (no page faults per call)",
    )
    parser.add_argument(
        "--trim-after-build",
        action="store_true",
        help="give the memory freed while building each candidate back to the system (as a "
        "process that loaded its model with zipasr.load: glibc's page faults are paid)",
    )
    args = parser.parse_args()
    if args.keep_freed_memory and args.trim_after_build:
        parser.error("--keep-freed-memory and --trim-after-build exclude each other")
    memory: Memory = (
        "keep" if args.keep_freed_memory else "trim" if args.trim_after_build else "as built"
    )
    if args.compile and args.same_process:
        parser.error("--compile needs one process per candidate (the reference disables compiling)")
    torch.set_num_threads(args.threads)
    baseline_src = args.baseline_src.resolve() if args.baseline_src else None

    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats}")
    print(f"CPU: {cpu_name()}")
    print("candidates in one process" if args.same_process else "one process per candidate")
    if args.keep_freed_memory:
        print("glibc keeps freed memory in every candidate's process (--keep-freed-memory)")
    if args.trim_after_build:
        print("memory freed while building each candidate given back (--trim-after-build)")
    if baseline_src:
        print(f"baseline: the zipasr under {baseline_src}")
    header = "| preset | input | mode | reference (s) |"
    if baseline_src:
        header += " baseline (s) | reference / baseline |"
    header += " zipasr (s) | reference / zipasr |"
    if baseline_src:
        header += " baseline / zipasr |"
    if args.compile:
        header += " zipasr compiled (s) | reference / compiled | compile (s) |"
    print(header)
    print("|---" * (header.count("|") - 1) + "|")
    for preset in args.presets:
        kinds = ["ref", "ours"] + (["baseline"] if baseline_src else [])
        kinds += ["compiled"] if args.compile else []
        candidates = {
            kind: Candidate(
                kind,
                preset,
                args.threads,
                baseline_src,
                args.same_process,
                args.warm_compile_cache,
                memory,
            )
            for kind in kinds
        }
        try:
            for shape_name, lengths in SHAPES.items():
                for mode in ("inference", "train step"):
                    active = {
                        k: c
                        for k, c in candidates.items()
                        if k != "compiled" or mode == "inference"
                    }
                    first = {k: c.prepare(lengths, mode) for k, c in active.items()}
                    t = time_rotation(active, args.repeats)
                    print(row(preset, shape_name, mode, t, first, baseline_src, args.compile))
        finally:
            for candidate in candidates.values():
                candidate.close()


def row(
    preset: str,
    shape_name: str,
    mode: str,
    t: dict[str, float],
    first: dict[str, float],
    baseline_src: Path | None,
    compiled: bool,
) -> str:
    line = f"| {preset} | {shape_name} | {mode} | {t['ref']:.3f} |"
    if baseline_src:
        line += f" {t['baseline']:.3f} | {t['ref'] / t['baseline']:.2f} |"
    line += f" {t['ours']:.3f} | {t['ref'] / t['ours']:.2f} |"
    if baseline_src:
        line += f" {t['baseline'] / t['ours']:.2f} |"
    if "compiled" in t:
        line += f" {t['compiled']:.3f} | {t['ref'] / t['compiled']:.2f} |"
        line += f" {first['compiled']:.0f} |"
    elif compiled:
        line += " n/a | n/a | n/a |"
    return line


def infer(encode: Callable, x: torch.Tensor, x_lens: torch.Tensor) -> None:
    with torch.no_grad():
        encode(x, x_lens)


def train_step(encode: Callable, x: torch.Tensor, x_lens: torch.Tensor) -> None:
    out, _ = encode(x, x_lens)
    out.square().mean().backward()


if __name__ == "__main__":
    main()
