"""Convergence at equal wall-clock or equal steps on the demo corpus: optimizers, encoders and
ablations.

    python -m benchmarks.convergence --out DIR [--budget-s 180 | --budget-steps N]
                                     [--processes 2] [--runs NAME ...] [--second-seed]
    python -m benchmarks.convergence --out DIR --time-steps N [--runs NAME ...]
    python benchmarks/convergence.py ...          # the same

Every run trains the demo-sized recognizer (transducer + CTC heads, non-causal, ~3 M
parameters) on the same synthetic corpus, tokenizer, batches (same sampler seed) and loss
settings, for the same training wall-clock time (``--budget-s``) or the same number of
optimizer steps (``--budget-steps``, with the learning-rate and loss schedules sized for it as
the demo's are: :meth:`ConvergenceSettings.for_steps`), then decodes the held-out test split
(voices and sentences never seen in training) with greedy search. Evaluation on the dev split
at regular points of the budget draws the WER curve; its time is not charged to the budget.

A step budget makes runs comparable when they are trained in different sessions or on a busy
machine: every run records its CPU model, process and thread counts, and its median seconds
per step, from which the report draws the time axis. ``--time-steps N`` measures seconds per
step of every configuration on this machine, interleaved (one step of each in turn, N rounds),
and saves them in ``DIR/convergence/step-times.json``; the report then draws every time axis
from that one measurement.

The runs (:data:`RUNS`): Zipformer + ScaledAdam (the baseline), Zipformer + Adam, a Conformer
of the same size + Adam, and three ablations of the baseline, each changing one thing in this
benchmark's code only (the library is untouched):

- ``layernorm``: every ``BiasNorm`` module replaced by ``nn.LayerNorm`` of the same width;
- ``swish``: SwooshL and SwooshR replaced by Swish (``F.silu``) where the encoder calls them
  (feed-forward, convolution and front-end modules) for the run's process;
- ``no_downsampling``: every stack at 50 Hz (``downsampling=(1,) * 6``), i.e. no U-Net;
- ``no_bypass``: every bypass (the learned interpolation between a layer's or stack's input
  and output, which also carries layer skipping) replaced by the module's output alone, leaving
  the layers' own residual connections.

Adam runs are learning-rate sweeps, for the Zipformer (:data:`ADAM_LRS`) and for the
Conformer (:data:`CONFORMER_ADAM_LRS`); the best of each sweep stands for it. With
``--second-seed`` the baseline and the two best Adam runs are trained again with another
seed (initial weights, dropout, batch order), which gives the spread that the differences must
be read against.

Each run is its own process (``--worker``), so that no run inherits another's state.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if not __package__:  # run as a file: make `benchmarks` and this checkout's zipasr importable
    _root = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_root), str(_root / "src")]

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from zipasr.files import write_text_atomically
from zipasr.models import AsrModel  # noqa: E402

#: Swoosh call sites of the encoder: (module, function name) pairs the ``swish`` ablation
#: replaces. tests/test_benchmarks.py checks that no other call of Swoosh remains.
SWOOSH_SITES = (
    ("zipasr.encoder.feedforward", "swoosh_l"),
    ("zipasr.encoder.convolution", "swoosh_r"),
    ("zipasr.encoder.embed", "swoosh_l"),
    ("zipasr.encoder.embed", "swoosh_r"),
)


@dataclass(frozen=True)
class RunSpec:
    """One training run: encoder, optimizer, ablation (None: the unmodified Zipformer), base
    learning rate (None: the settings' default for the optimizer) and seed offset (0: the
    settings' seed; 1: a second draw of the initial weights, dropout and batch order)."""

    name: str
    label: str
    encoder: str  # "zipformer" or "conformer"
    optimizer: str  # "scaled_adam" or "adam"
    variant: str | None = None  # "layernorm", "swish", "no_downsampling" or "no_bypass"
    lr: float | None = None
    seed: int = 0


#: Adam's learning rates, for the Zipformer and for the Conformer: each family's Adam runs are a
#: sweep over its rates, and its best run (lowest final dev WER) stands for it in the
#: comparisons. At the plateau budget (1350 steps) the rates the two sweeps first shared (1e-3,
#: 2e-3, 4e-3) put each best at an end (the Zipformer's at 4e-3, the Conformer's at 1e-3,
#: where 2e-3 already failed to learn), so each sweep goes one step further that way.
ADAM_LRS = (1e-3, 2e-3, 4e-3, 8e-3)
CONFORMER_ADAM_LRS = (5e-4, 1e-3, 2e-3, 4e-3)


def _lr_tag(lr: float) -> str:
    return f"{lr:.0e}".replace("e-0", "e-")  # 0.002 -> "2e-3"


BASELINE_RUN = RunSpec("zipformer-scaledadam", "Zipformer + ScaledAdam", "zipformer", "scaled_adam")
ADAM_SWEEP = tuple(
    RunSpec(
        f"zipformer-adam-lr{_lr_tag(lr)}",
        f"Zipformer + Adam (lr {_lr_tag(lr)})",
        "zipformer",
        "adam",
        lr=lr,
    )
    for lr in ADAM_LRS
)
CONFORMER_SWEEP = tuple(
    RunSpec(
        f"conformer-adam-lr{_lr_tag(lr)}",
        f"Conformer + Adam (lr {_lr_tag(lr)})",
        "conformer",
        "adam",
        lr=lr,
    )
    for lr in CONFORMER_ADAM_LRS
)
ABLATIONS = (
    RunSpec(
        "zipformer-layernorm", "LayerNorm for BiasNorm", "zipformer", "scaled_adam", "layernorm"
    ),
    RunSpec("zipformer-swish", "Swish for Swoosh", "zipformer", "scaled_adam", "swish"),
    RunSpec(
        "zipformer-no-downsampling",
        "no downsampling (all at 50 Hz)",
        "zipformer",
        "scaled_adam",
        "no_downsampling",
    ),
    RunSpec(
        "zipformer-no-bypass", "no bypass (plain residual)", "zipformer", "scaled_adam", "no_bypass"
    ),
)
RUNS = (BASELINE_RUN, *ADAM_SWEEP, *CONFORMER_SWEEP, *ABLATIONS)
RUNS_BY_NAME = {r.name: r for r in RUNS}
#: The --quick smoke run: one learning rate per Adam family, every ablation.
QUICK_RUNS = (
    BASELINE_RUN.name,
    "zipformer-adam-lr2e-3",
    "conformer-adam-lr2e-3",
    *(r.name for r in ABLATIONS),
)
#: Learning-rate sweeps whose best run stands for the family in the comparisons.
SWEEPS = {
    "adam": tuple(r.name for r in ADAM_SWEEP),
    "conformer": tuple(r.name for r in CONFORMER_SWEEP),
}
ABLATION_RUNS = (BASELINE_RUN.name, *(r.name for r in ABLATIONS))
#: Name suffix of a run's second seed ("zipformer-scaledadam-seed2").
SECOND_SEED = "-seed2"


def spec_named(name: str) -> RunSpec:
    """The run called ``name``: one of :data:`RUNS`, or one of them with the ``-seed2``
    suffix (its second seed)."""
    if name in RUNS_BY_NAME:
        return RUNS_BY_NAME[name]
    base = name.removesuffix(SECOND_SEED)
    if name.endswith(SECOND_SEED) and base in RUNS_BY_NAME:
        spec = RUNS_BY_NAME[base]
        return dataclasses.replace(spec, name=name, label=f"{spec.label}, seed 2", seed=1)
    raise ValueError(f"unknown run {name!r}; runs: {', '.join(RUNS_BY_NAME)} (+ {SECOND_SEED})")


def best_of(runs: dict[str, dict[str, Any]], names: tuple[str, ...]) -> str | None:
    """The run of ``names`` (a learning-rate sweep) with the lowest final dev WER, diverged
    runs last; None if none of them ran."""
    done = [runs[n] for n in names if n in runs]
    if not done:
        return None
    return min(done, key=lambda r: (r["diverged"], r["dev_wer"]))["name"]


def main_runs(runs: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    """The comparison plotted together: the baseline, the best Adam run and the best
    Conformer run, with their second seeds where they ran."""
    names = [BASELINE_RUN.name, best_of(runs, SWEEPS["adam"]), best_of(runs, SWEEPS["conformer"])]
    chosen = [n for n in names if n is not None and n in runs]
    return tuple(chosen + [n + SECOND_SEED for n in chosen if n + SECOND_SEED in runs])


@dataclass
class ConvergenceSettings:
    """What every run shares. Times in seconds; steps count optimizer steps.

    Attributes:
        hours: synthetic corpus size (all splits; the demo's 1 h).
        budget_s: training wall-clock per run (data loading included, evaluation excluded);
            unused when ``budget_steps`` is set.
        budget_steps: if set, every run trains exactly this many optimizer steps instead of
            for ``budget_s`` (make such settings with :meth:`for_steps`, which sizes the
            schedules for it).
        processes: data-parallel training processes, one per CPU core (for a model this
            small, single-threaded processes that split the batch train faster on a CPU than
            one process with as many threads).
        threads: torch threads per process.
        vocab_size: BPE vocabulary; ~40 is about the letters, which breaks the transducer's
            initial plateau several times sooner on this corpus than 256 does.
        max_duration_s: audio seconds per optimizer step, over all processes.
        evals: dev-set evaluations spread evenly over the budget (the WER curve).
        scaled_adam_lr, adam_lr: base learning rates (ScaledAdam's is the recipe's; Adam's a
            common Conformer value, not tuned here). Both follow the same Eden schedule.
        adam_clip: Adam's gradient-norm clipping (ScaledAdam clips by itself).
        warmup_steps, lr_steps: Eden's warm-up and decay lengths.
        warm_step: the loss-weight warm-up (simple -> pruned transducer loss).
        ctc_loss_scale: the CTC loss weight (the recipe's is 0.2); a larger one finds the
            alignment sooner.
        ref_duration_s: seconds of audio per reference batch of the Zipformer's regularisation
            schedules (the recipe's is 600): at 30 s per step, most schedules have annealed
            after about 700 steps instead of hundreds of thousands.
        seed: model init and sampler seed, the same for every run (a run's ``seed`` offset
            is added to it).
        pool: the corpus's sentence pool (:func:`zipasr.data.synth.build_corpus`).
    """

    hours: float = 1.0
    budget_s: float = 180.0
    budget_steps: int | None = None
    processes: int = 2
    threads: int = 1
    vocab_size: int = 40
    max_duration_s: float = 30.0
    evals: int = 6
    scaled_adam_lr: float = 0.045
    adam_lr: float = 2e-3
    adam_clip: float = 5.0
    warmup_steps: float = 20.0
    lr_steps: float = 200.0
    warm_step: int = 50
    ctc_loss_scale: float = 0.5
    ref_duration_s: float = 1.0
    seed: int = 42
    pool: str = "templates"

    @classmethod
    def for_steps(cls, steps: int, **kw: Any) -> ConvergenceSettings:
        """Settings for an equal-step budget of ``steps`` optimizer steps, with the Eden and
        loss schedules scaled to it as the demo's are (``zipasr.train.demo``): decay over
        ``steps / 3``, warm-up over ``steps / 10``, the loss-weight warm-up over ``steps // 4``.
        ``kw`` sets the other fields (and overrides these, if it names them)."""
        from zipasr.train.demo import demo_schedule

        if steps < 1:
            raise ValueError(f"the step budget must be at least 1 step, not {steps}")
        demo = demo_schedule(steps)
        schedule = {
            "lr_steps": demo["lr_batches"],
            "warmup_steps": demo["warmup_batches"],
            "warm_step": int(demo["warm_step"]),
        }
        return cls(**{"budget_steps": steps, **schedule, **kw})

    def eval_steps(self) -> list[int]:
        """With a step budget: the steps after which the dev set is scored, ``budget_steps *
        k / evals`` for k = 1..evals (rounded down; distinct; the last is the budget)."""
        if self.budget_steps is None:
            raise ValueError("eval_steps() needs a step budget (budget_steps)")
        n = self.budget_steps
        return sorted({max(1, n * k // self.evals) for k in range(1, self.evals + 1)})

    def timeout_s(self) -> float:
        """How long a run's processes may take before they are taken for hung: the budget
        (at up to 10 s per step for a step budget, on a busy machine) plus 15 minutes for
        start-up and evaluation."""
        budget = self.budget_s if self.budget_steps is None else 10.0 * self.budget_steps
        return budget + 900.0

    def describe_budget(self) -> str:
        """The budget in words: "1350 optimizer steps" or "180 s of training"."""
        if self.budget_steps is not None:
            return f"{self.budget_steps} optimizer steps"
        return f"{self.budget_s:g} s of training"


# --- ablations and models ----------------------------------------------------------------


@contextlib.contextmanager
def swish_activations() -> Iterator[None]:
    """Within the block, the encoder calls Swish (``F.silu``) wherever it called SwooshL or
    SwooshR; restored on exit."""
    import importlib

    saved = []
    for module_name, attr in SWOOSH_SITES:
        module = importlib.import_module(module_name)
        saved.append((module, attr, getattr(module, attr)))
        setattr(module, attr, F.silu)
    try:
        yield
    finally:
        for module, attr, fn in saved:
            setattr(module, attr, fn)


def replace_bias_norms(model: nn.Module) -> int:
    """Replaces every BiasNorm in ``model`` by an ``nn.LayerNorm`` of the same width, in
    place; returns how many were replaced."""
    from zipasr.nn.bias_norm import BiasNorm

    targets = [(name, m) for name, m in model.named_modules() if isinstance(m, BiasNorm)]
    for name, module in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, nn.LayerNorm(module.bias.numel()))
    return len(targets)


class _NoBypass(nn.Module):
    """Stands in for a Bypass: the module's output, without the interpolation."""

    def forward(self, x_in: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return x


def remove_bypasses(model: nn.Module) -> int:
    """Replaces every Bypass in ``model`` by :class:`_NoBypass`, in place; returns how many."""
    from zipasr.encoder.bypass import Bypass

    targets = [name for name, m in model.named_modules() if isinstance(m, Bypass)]
    for name in targets:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, _NoBypass())
    return len(targets)


def build_model(spec: RunSpec, tokens: list[str]) -> AsrModel:
    """The run's recognizer: the demo's Zipformer transducer + CTC (non-causal), with the
    run's encoder or ablation."""
    from benchmarks.conformer import ConformerConfig, ConformerEncoder
    from zipasr.train.demo import demo_config

    model_spec = demo_config("unused").model
    model_spec.causal = False
    config = model_spec.build(len(tokens))
    if spec.variant == "no_downsampling":
        encoder = dataclasses.replace(config.encoder, downsampling=(1,) * config.encoder.num_stacks)
        config = dataclasses.replace(config, encoder=encoder)
    model = AsrModel(config, tokens=tokens)
    if spec.encoder == "conformer":
        # A duck-typed stand-in: same call, output rate and width, and a ``clock``.
        conformer = ConformerEncoder(ConformerConfig.demo(config.encoder.output_dim))
        model.encoder = conformer  # type: ignore[assignment]
    elif spec.encoder != "zipformer":
        raise ValueError(f"unknown encoder {spec.encoder!r}")
    if spec.variant == "layernorm":
        replace_bias_norms(model.encoder)
    elif spec.variant == "no_bypass":
        remove_bypasses(model.encoder)
    return model


class ClippedAdam(torch.optim.Adam):
    """Adam (betas 0.9/0.98, the usual Transformer/Conformer setting) with the gradient norm
    clipped to ``max_norm`` before each step."""

    def __init__(self, params: Any, lr: float, max_norm: float) -> None:
        super().__init__(params, lr=lr, betas=(0.9, 0.98), eps=1e-9)
        self.max_norm = max_norm

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, self.max_norm)
        return super().step(closure)


# --- data shared by all runs ---------------------------------------------------------------


def data_config(out: Path, settings: ConvergenceSettings) -> Any:
    from zipasr.train.config import DataConfig

    return DataConfig(
        train_manifest=str(out / "data" / "train.jsonl"),
        valid_manifest=None,  # scored here by WER, from features stored by prepare_shared
        vocab_size=settings.vocab_size,
        max_duration_s=settings.max_duration_s,
        num_buckets=10 if settings.hours >= 0.5 else 2,
        num_workers=0,
        precompute_features=True,
        spec_augment=False,
    )


def shared_dir(out: Path) -> Path:
    return out / "convergence" / "shared"


def prepare_shared(out: Path, settings: ConvergenceSettings, log: Any = print) -> dict[str, Any]:
    """Synthesises the corpus (if absent), trains the tokenizer, precomputes the training
    features, and stores the dev and test utterances' features for scoring; all reused by
    every run."""
    from zipasr.data import fbank, load_cuts, normalize_text
    from zipasr.data.features import load_cut_audio
    from zipasr.data.synth import build_corpus
    from zipasr.train.data import prepare_data
    from zipasr.train.distributed import DistInfo

    torch.set_num_threads(settings.threads)
    start = time.perf_counter()
    # The tokenizer and features in shared_dir are reused: they must fit this corpus.
    stamp = {"hours": settings.hours, "vocab_size": settings.vocab_size, "pool": settings.pool}
    stamp_path = shared_dir(out) / "prepared.json"
    if stamp_path.exists() and json.loads(stamp_path.read_text()) != stamp:
        raise ValueError(
            f"{out} holds data prepared with {stamp_path.read_text().strip()}, not {stamp}; "
            "use another output folder or delete it"
        )
    data = out / "data"
    if not (data / "test.jsonl").exists():
        stats = build_corpus(data, settings.hours, seed=0, pool=settings.pool)
        log(f"corpus: {stats.summary()}")
    corpus_s = time.perf_counter() - start
    info = DistInfo(0, 1, 0, torch.device("cpu"))
    prepared = prepare_data(data_config(out, settings), shared_dir(out), settings.seed, info)
    summary: dict[str, Any] = {"corpus_s": corpus_s, "vocab_size": prepared.tokenizer.vocab_size}
    for split in ("train", "dev", "test"):
        cuts = list(load_cuts(data / f"{split}.jsonl"))
        summary[f"{split}_utterances"] = len(cuts)
        summary[f"{split}_hours"] = sum(c.duration for c in cuts) / 3600
        if split == "train":
            continue
        texts = [normalize_text(" ".join(s.text or "" for s in c.supervisions)) for c in cuts]
        feats = [fbank(load_cut_audio(c), 16000) for c in cuts]
        torch.save({"texts": texts, "features": feats}, shared_dir(out) / f"eval_{split}.pt")
    stamp_path.write_text(json.dumps(stamp))
    summary["prepare_s"] = time.perf_counter() - start
    return summary


# --- one run (in its own process) ----------------------------------------------------------


def score(model: AsrModel, split: dict[str, Any], method: str = "greedy_search") -> float:
    """WER (%) of ``model`` on a stored split, decoded with ``method``."""
    from zipasr.metrics import word_error_rate
    from zipasr.recognize import DecodeOptions, decode_features

    model.eval()
    hyps = decode_features(model, split["features"], DecodeOptions(method, batch_size=16))
    return word_error_rate(split["texts"], [h.text or "" for h in hyps]).wer


def train_run(spec: RunSpec, out: Path, settings: ConvergenceSettings) -> dict[str, Any] | None:
    """Trains one run for ``settings.budget_steps`` optimizer steps if set, else for
    ``settings.budget_s`` of wall-clock, and scores it. Under
    ``torchrun`` (one data-parallel process per core) every process calls this; the main one
    returns the result, the others None."""
    from zipasr.train import distributed

    info = distributed.setup("cpu")
    try:
        with swish_activations() if spec.variant == "swish" else contextlib.nullcontext():
            return _train_run(spec, out, settings, info)
    finally:
        distributed.cleanup()


def _build_learner(spec: RunSpec, s: ConvergenceSettings, data: Any, info: Any) -> Any:
    """The run's model (seeded as every run of its seed), optimizer, scheduler and Learner."""
    from torch.nn.parallel import DistributedDataParallel

    from zipasr.optim import Eden, ScaledAdam
    from zipasr.train.config import LossConfig
    from zipasr.train.loop import seed_everything
    from zipasr.train.precision import resolve_precision
    from zipasr.train.step import Learner

    cpu = torch.device("cpu")
    seed = s.seed + spec.seed
    seed_everything(seed)  # the same initial weights in every run (of a seed) and process
    model = build_model(spec, data.tokenizer.pieces())
    seed_everything(seed + info.rank)  # each process its own dropout draws
    optimizer: torch.optim.Optimizer
    if spec.optimizer == "scaled_adam":
        lr = spec.lr or s.scaled_adam_lr
        optimizer = ScaledAdam(model.named_parameters(), lr=lr, clipping_scale=2.0)
    elif spec.optimizer == "adam":
        optimizer = ClippedAdam(model.parameters(), lr=spec.lr or s.adam_lr, max_norm=s.adam_clip)
    else:
        raise ValueError(f"unknown optimizer {spec.optimizer!r}")
    scheduler = Eden(optimizer, s.lr_steps, 100.0, s.warmup_steps, 0.1)
    loss = LossConfig(ctc_loss_scale=s.ctc_loss_scale, warm_step=s.warm_step)
    wrapped: nn.Module = model
    if info.enabled:  # unused parameters: the Zipformer skips layers at random in training
        wrapped = DistributedDataParallel(model, find_unused_parameters=True)
    return Learner(
        model=wrapped,
        optimizer=optimizer,  # type: ignore[arg-type]  # any torch optimizer steps the same way
        scheduler=scheduler,
        precision=resolve_precision("fp32", cpu),
        device=cpu,
        loss=loss,
        max_duration_s=s.max_duration_s / info.world_size,
        world_size=info.world_size,
        ref_duration_s=s.ref_duration_s,
    )


def _load_data(out: Path, s: ConvergenceSettings, seed: int, info: Any) -> Any:
    from zipasr.train.data import prepare_data

    # max_duration_s is the global batch; each process takes its share of it.
    per_process = dataclasses.replace(
        data_config(out, s), max_duration_s=s.max_duration_s / info.world_size
    )
    return prepare_data(per_process, shared_dir(out), seed, info)


def cpu_id() -> str:
    """The CPU's vendor, family, model and stepping from /proc/cpuinfo ("" where there is
    none): virtual machines often report a model name as vague as "AMD EPYC", the same for
    several generations, and these numbers tell them apart."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    fields: dict[str, str] = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    parts = [
        fields.get("vendor_id", ""),
        *(f"{k} {fields[k]}" for k in ("cpu family", "model", "stepping") if k in fields),
    ]
    return " ".join(p for p in parts if p)


def machine_record(processes: int) -> dict[str, Any]:
    """Where a run was measured, for putting it on a time axis: CPU model (and
    :func:`cpu_id`), logical CPUs, torch threads per process, processes, and the load average
    (1 min) when it was taken."""
    from benchmarks.suite import cpu_name

    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return {
        "cpu": cpu_name(),
        "cpu_id": cpu_id(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processes": processes,
        "load_average": load,
    }


def seconds_per_step(curve: list[Any]) -> float:
    """Median seconds per optimizer step of a training curve of (cumulative training seconds,
    step, loss) rows, leaving out the first tenth of the steps (at most 20, at least 1 when
    there are 2 or more): the first steps pay for allocation and warm-up, and a median is not
    moved by the bursts of a busy machine. NaN for an empty curve."""
    times = [row[0] for row in curve]
    durations = [b - a for a, b in zip([0.0, *times], times)]
    n = len(durations)
    kept = durations[max(1, min(20, n // 10)) :] if n >= 2 else durations
    return statistics.median(kept) if kept else float("nan")


def _train_run(
    spec: RunSpec, out: Path, s: ConvergenceSettings, info: Any
) -> dict[str, Any] | None:
    from zipasr.losses import NonFiniteLossError
    from zipasr.train import distributed

    torch.set_num_threads(s.threads)
    cpu = torch.device("cpu")
    data = _load_data(out, s, s.seed + spec.seed, info)
    dev, test = (
        torch.load(shared_dir(out) / f"eval_{split}.pt", weights_only=True)
        for split in ("dev", "test")
    )
    learner = _build_learner(spec, s, data, info)
    model, scheduler = learner.asr, learner.scheduler
    machine = machine_record(info.world_size)
    curve: list[tuple[float, int, float]] = []  # (training seconds, step, loss per frame)
    evals: list[tuple[float, int, float]] = []  # (training seconds, step, dev WER)
    by_steps = s.budget_steps is not None
    eval_at: list[float] = (
        [float(k) for k in s.eval_steps()]
        if by_steps
        else [s.budget_s * (k + 1) / s.evals for k in range(s.evals)]
    )
    train_s, step, epoch, audio_s, diverged = 0.0, 0, 0, 0.0, False
    finished = False
    while not finished:
        if epoch and not curve:
            raise RuntimeError(f"no training batch in {data_config(out, s).train_manifest}")
        epoch += 1
        scheduler.step_epoch(epoch - 1)
        data.sampler.set_epoch(epoch)
        lap = time.perf_counter()
        for batch in data.train_loader:
            if not len(batch):
                continue
            step += 1
            try:
                stats = learner.step([batch], step, (None, None))
                loss, frames, seconds = stats.loss, stats.frames, stats.audio_s
            except NonFiniteLossError:
                # The losses refuse a non-finite value before it reaches the optimizer: the
                # run has diverged. Diverged weights are the same on every process, so
                # normally every process gets here in the same step, before any gradient is
                # exchanged (if one did alone, the processes' collectives would not match and
                # the run would fail, which the suite reports and goes on from).
                loss, frames, seconds = math.nan, 1.0, 0.0
            # Totals over the processes; the main process's clock decides for all of them.
            elapsed = time.perf_counter() - lap if info.is_main else 0.0
            loss_sum, frames, seconds, elapsed = distributed.all_sum(
                [loss, frames, seconds, elapsed], cpu
            )
            train_s += elapsed
            per_frame = loss_sum / max(frames, 1)
            curve.append((train_s, step, per_frame))
            audio_s += seconds
            diverged = not math.isfinite(per_frame)
            progress = float(step) if by_steps else train_s
            if by_steps:
                finished = step >= (s.budget_steps or 0) or diverged
            else:
                finished = train_s >= s.budget_s or diverged
            if eval_at and (progress >= eval_at[0] or finished):
                while eval_at and progress >= eval_at[0]:
                    eval_at.pop(0)
                if info.is_main:
                    evals.append((train_s, step, score(model, dev)))
                distributed.barrier()
            if finished:
                break
            lap = time.perf_counter()
    if not info.is_main:
        return None
    machine["load_average_end"] = machine_record(info.world_size)["load_average"]
    return {
        **dataclasses.asdict(spec),
        "encoder_parameters": sum(p.numel() for p in model.encoder.parameters()),
        "parameters": sum(p.numel() for p in model.parameters()),
        "processes": info.world_size,
        "steps": step,
        "epochs": epoch,
        "train_s": train_s,
        "s_per_step": seconds_per_step(curve),
        "machine": machine,
        "audio_hours_seen": audio_s / 3600,
        "diverged": diverged,
        "curve": curve,
        "dev_wer_curve": evals,
        "dev_wer": evals[-1][2] if evals else float("nan"),
        "test_wer": score(model, test),
        "test_wer_ctc": score(model, test, "ctc_greedy_search"),
    }


# --- step-time calibration (in its own process) ------------------------------------------


def step_times_path(out: Path) -> Path:
    return out / "convergence" / "step-times.json"


def timing_groups(runs: tuple[str, ...]) -> dict[str, list[str]]:
    """Runs that cost the same per step (same encoder, optimizer and ablation; learning rate
    and seed do not change the work), keyed by the first run of each group."""
    groups: dict[tuple[str, str, str | None], list[str]] = {}
    for name in runs:
        spec = spec_named(name)
        groups.setdefault((spec.encoder, spec.optimizer, spec.variant), []).append(name)
    return {names[0]: names for names in groups.values()}


def time_steps_worker(
    out: Path, s: ConvergenceSettings, steps: int, runs: tuple[str, ...]
) -> dict[str, Any] | None:
    """Seconds per optimizer step of each of :func:`timing_groups` ``(runs)``, measured in
    turn: one untimed round, then ``steps`` rounds of one step of every configuration on the
    same batch (the configurations' order rotates each round), so that a change in the
    machine's load touches all of them alike. The step numbers start at half the step budget
    (or at step 200 without one), where the Zipformer's layer-skip and dropout schedules are
    about as relaxed as for most of a run. Data loading is not timed. Under ``torchrun`` every
    process calls this; the main one returns the result."""
    from zipasr.train import distributed

    info = distributed.setup("cpu")
    try:
        torch.set_num_threads(s.threads)
        data = _load_data(out, s, s.seed, info)
        batches: list[Any] = []
        epoch = 0
        while len(batches) < steps + 1:
            epoch += 1
            data.sampler.set_epoch(epoch)
            before = len(batches)
            batches += [b for b in data.train_loader if len(b)][: steps + 1 - len(batches)]
            if len(batches) == before:
                raise RuntimeError(f"no training batch in {data_config(out, s).train_manifest}")
        groups = timing_groups(runs)
        learners = {name: _build_learner(spec_named(name), s, data, info) for name in groups}
        first = max(1, (s.budget_steps or 400) // 2)
        times: dict[str, list[float]] = {name: [] for name in groups}
        names = list(groups)
        for r in range(steps + 1):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                swish = spec_named(name).variant == "swish"
                with swish_activations() if swish else contextlib.nullcontext():
                    distributed.barrier()
                    start = time.perf_counter()
                    learners[name].step([batches[r]], first + r, (None, None))
                    distributed.barrier()
                    if r:  # round 0 is the warm-up
                        times[name].append(time.perf_counter() - start)
        if not info.is_main:
            return None
        medians = {name: statistics.median(ts) for name, ts in times.items()}
        return {
            "machine": machine_record(info.world_size),
            "steps": steps,
            "first_step": first,
            "settings": dataclasses.asdict(s),
            "s_per_step": medians,
            "by_run": {run: medians[name] for name, group in groups.items() for run in group},
            "times_s": times,
        }
    finally:
        distributed.cleanup()


def time_steps(
    out: Path,
    settings: ConvergenceSettings,
    steps: int,
    runs: tuple[str, ...] = tuple(RUNS_BY_NAME),
    log: Any = print,
) -> dict[str, Any]:
    """Runs :func:`time_steps_worker` in fresh processes (as the training runs are) and saves
    its result in ``out/convergence/step-times.json``, which the report then uses for every
    run's time axis."""
    out = out.resolve()
    prepare_shared(out, settings, log)
    result_path = step_times_path(out).with_suffix(".worker.json")
    spec = {
        "out": str(out),
        "settings": dataclasses.asdict(settings),
        "steps": steps,
        "runs": list(runs),
        "result": str(result_path),
    }
    groups = timing_groups(runs)
    log(f"timing {steps} steps of {len(groups)} configurations, interleaved ...")
    timeout = 10.0 * (steps + 1) * len(groups) + 900
    result = _run_worker("--time-worker", spec, settings.processes, timeout, "step timing")
    write_text_atomically(step_times_path(out), json.dumps(result, indent=1))
    for name, seconds in result["s_per_step"].items():
        log(f"  {name}: {seconds:.3f} s per step (median; also for {', '.join(groups[name])})")
    log(f"  on {result['machine']['cpu']}; saved {step_times_path(out)}")
    return result


# --- orchestration --------------------------------------------------------------------------


def launch_run(name: str, out: Path, settings: ConvergenceSettings) -> dict[str, Any]:
    """Runs ``train_run`` for run ``name`` in a fresh process, or in ``settings.processes``
    data-parallel processes under ``torchrun``; returns its result."""
    result_path = out / "convergence" / f"{name}.worker.json"
    spec = {
        "run": name,
        "out": str(out),
        "settings": dataclasses.asdict(settings),
        "result": str(result_path),
    }
    return _run_worker("--worker", spec, settings.processes, settings.timeout_s(), f"run {name}")


def _run_worker(
    flag: str, spec: dict[str, Any], processes: int, timeout: float, what: str
) -> dict[str, Any]:
    """Runs this module with ``flag`` and ``spec`` (JSON) in a fresh process, or in
    ``processes`` data-parallel ones under ``torchrun``, and returns the result it left in
    ``spec["result"]`` (deleted after reading)."""
    from benchmarks.speed import ROOT, subprocess_env

    result_path = Path(spec["result"])
    result_path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.convergence", flag, json.dumps(spec)]
    if processes > 1:
        command[1:2] = [
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={processes}",
            "-m",
        ]
    done = subprocess.run(
        command, cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0 or not result_path.exists():
        raise RuntimeError(
            f"{what} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(result_path.read_text())
    result_path.unlink()
    return result


def run_convergence(
    out: Path,
    settings: ConvergenceSettings,
    runs: tuple[str, ...] = tuple(RUNS_BY_NAME),
    log: Any = print,
    second_seed: bool = False,
) -> dict[str, Any]:
    """Prepares the shared data, then each run in its own process; results also go to
    ``out/convergence/<run>.json``. With ``second_seed``, the baseline and the best run of
    each Adam sweep (among ``runs``) are then trained again with a second seed."""
    out = out.resolve()  # the workers run in the repository root
    shared = prepare_shared(out, settings, log)
    log(
        f"data ready in {shared['prepare_s']:.0f} s: {shared['train_hours']:.2f} h train, "
        f"{shared['dev_utterances']} dev / {shared['test_utterances']} test utterances, "
        f"vocabulary {shared['vocab_size']}"
    )
    results: list[dict[str, Any]] = []

    def one(name: str) -> None:
        try:
            results.append(_one_run(name, out, settings, log))
        except (RuntimeError, subprocess.TimeoutExpired) as error:  # its process failed
            log(f"run {name} FAILED and is left out (the same command tries it again):\n{error}")

    for name in runs:
        one(name)
    if second_seed:
        done = {r["name"]: r for r in results}
        for name in main_runs(done):
            if not name.endswith(SECOND_SEED):
                one(name + SECOND_SEED)
    conv = {"settings": dataclasses.asdict(settings), "data": shared, "runs": results}
    step_times = step_times_path(out)
    if settings.budget_steps is not None and step_times.exists():
        timing = json.loads(step_times.read_text())
        if timing_fits(timing, settings):
            conv["step_times"] = timing
        else:
            log(f"{step_times} was measured with other batches or processes: not used")
    return conv


#: Settings that change the cost of a step: a ``--time-steps`` measurement made with other
#: values does not stand for the runs' steps. The step budget and the reference duration are
#: among them because the timed steps are taken from the budget's middle, and where the
#: regularisation schedules (layer skipping, dropout) stand there depends on both.
TIMING_KEYS = (
    "processes",
    "threads",
    "max_duration_s",
    "hours",
    "pool",
    "vocab_size",
    "budget_steps",
    "ref_duration_s",
)


def timing_fits(timing: dict[str, Any], settings: ConvergenceSettings) -> bool:
    """Whether a ``--time-steps`` result was measured with steps like those of ``settings``."""
    ours = dataclasses.asdict(settings)
    return all(timing["settings"].get(k) == ours[k] for k in TIMING_KEYS)


def same_settings(saved: dict[str, Any] | None, settings: ConvergenceSettings) -> bool:
    """Whether a saved run was trained with ``settings`` (fields that the saving version did
    not have yet count at their defaults, which is what it ran with)."""
    if saved is None:
        return False
    return {**dataclasses.asdict(ConvergenceSettings()), **saved} == dataclasses.asdict(settings)


def saved_run(name: str, out: Path, settings: ConvergenceSettings) -> dict[str, Any] | None:
    """The result of run ``name`` saved in ``out`` with ``settings``; None if there is none."""
    saved = out / "convergence" / f"{name}.json"
    if not saved.exists():
        return None
    result: dict[str, Any] = json.loads(saved.read_text())
    return result if same_settings(result.get("settings"), settings) else None


def runs_left(
    out: Path, settings: ConvergenceSettings, runs: tuple[str, ...], second_seed: bool
) -> int:
    """How many runs :func:`run_convergence` would still train: those of ``runs`` not saved
    with ``settings`` and, with ``second_seed``, one second seed for the baseline and for each
    Adam sweep among ``runs`` (before the sweep is done, which of its runs is best is not
    known) not saved yet."""
    left = sum(saved_run(name, out, settings) is None for name in runs)
    if second_seed:
        groups = [[BASELINE_RUN.name], *(list(sweep) for sweep in SWEEPS.values())]
        for group in groups:
            if any(name in runs for name in group) and not any(
                saved_run(name + SECOND_SEED, out, settings) for name in group
            ):
                left += 1
    return left


def _one_run(name: str, out: Path, settings: ConvergenceSettings, log: Any) -> dict[str, Any]:
    """One run, its result saved beside the others; resumable: a finished run is reused."""
    saved = out / "convergence" / f"{name}.json"
    reused = saved_run(name, out, settings)
    if reused is not None:
        log(f"run {name}: done before, reused ({saved})")
        return reused
    log(f"run {name}: {settings.describe_budget()} ...")
    start = time.perf_counter()
    result = launch_run(name, out, settings)
    result["wall_s"] = time.perf_counter() - start
    result["settings"] = dataclasses.asdict(settings)
    write_text_atomically(saved, json.dumps(result, indent=1))
    log(
        f"  {result['steps']} steps, {result['audio_hours_seen']:.2f} h of audio seen, "
        f"test WER {result['test_wer']:.1f}% (CTC {result['test_wer_ctc']:.1f}%)"
        + (" DIVERGED" if result["diverged"] else "")
        + f", {result['wall_s']:.0f} s in all, {result['s_per_step']:.3f} s per step (median) "
        f"on {result['machine']['cpu']}"
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help=f"training seconds per run (default {ConvergenceSettings.budget_s:g})",
    )
    budget.add_argument(
        "--budget-steps",
        type=int,
        default=None,
        metavar="N",
        help="train every run for N optimizer steps instead, with the schedules sized for N "
        "(comparable across sessions and machines; the report's time axis is steps x each "
        "run's median seconds per step)",
    )
    parser.add_argument(
        "--time-steps",
        type=int,
        default=None,
        metavar="N",
        help="instead of training: time N steps of every configuration of --runs, "
        "interleaved, and save them for the report's time axis",
    )
    parser.add_argument("--processes", type=int, default=ConvergenceSettings.processes)
    parser.add_argument("--runs", nargs="+", default=list(RUNS_BY_NAME), choices=RUNS_BY_NAME)
    parser.add_argument(
        "--second-seed",
        action="store_true",
        help="then train the baseline and the best run of each Adam sweep with a second seed",
    )
    parser.add_argument("--pool", default=ConvergenceSettings.pool, choices=("templates", "wide"))
    parser.add_argument("--hours", type=float, default=ConvergenceSettings.hours)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: one run
    parser.add_argument("--time-worker", help=argparse.SUPPRESS)  # internal: --time-steps
    args = parser.parse_args(argv)
    if args.worker or args.time_worker:
        spec = json.loads(args.worker or args.time_worker)
        settings = ConvergenceSettings(**spec["settings"])
        if args.worker:
            result = train_run(spec_named(spec["run"]), Path(spec["out"]), settings)
        else:
            result = time_steps_worker(
                Path(spec["out"]), settings, spec["steps"], tuple(spec["runs"])
            )
        if result is not None:  # the main process
            Path(spec["result"]).write_text(json.dumps(result))
        return
    from benchmarks.report import convergence_report

    common = {"processes": args.processes, "pool": args.pool, "hours": args.hours}
    if args.budget_steps is not None and args.budget_steps < 1:
        parser.error("--budget-steps must be at least 1")
    if args.budget_steps is not None:
        settings = ConvergenceSettings.for_steps(args.budget_steps, **common)
    else:
        settings = ConvergenceSettings(budget_s=args.budget_s or ConvergenceSettings.budget_s)
        settings = dataclasses.replace(settings, **common)
    if args.time_steps is not None:
        if args.time_steps < 1:
            parser.error("--time-steps must be at least 1")
        time_steps(args.out, settings, args.time_steps, tuple(args.runs))
        return
    results = run_convergence(args.out, settings, tuple(args.runs), second_seed=args.second_seed)
    print(convergence_report(results))


if __name__ == "__main__":
    main()
