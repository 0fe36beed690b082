"""Convergence at equal wall-clock on the demo corpus: optimizers, encoders and ablations.

    python -m benchmarks.convergence --out DIR [--budget-s 180] [--processes 2] [--runs NAME ...]

Every run trains the demo-sized recognizer (transducer + CTC heads, non-causal, ~3 M
parameters) on the same synthetic corpus, tokenizer, batches (same sampler seed) and loss
settings, for the same training wall-clock time, then decodes the held-out test split (voices
and sentences never seen in training) with greedy search. Evaluation on the dev split at
regular points of the budget draws the WER curve; its time is not charged to the budget.

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

Adam runs are learning-rate sweeps (:data:`ADAM_LRS`), for the Zipformer and for the Conformer;
the best of each sweep stands for it. With ``--second-seed`` the baseline and the two best Adam
runs are trained again with another seed (initial weights, dropout, batch order), which gives
the spread that the differences must be read against.

Each run is its own process (``--worker``), so that no run inherits another's state.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zipasr.models import AsrModel

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


#: Adam's learning rates: every Adam run is a sweep over these, and the best (lowest final dev
#: WER) stands for Adam in the comparisons.
ADAM_LRS = (1e-3, 2e-3, 4e-3)


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
    for lr in ADAM_LRS
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
    ADAM_SWEEP[1].name,
    CONFORMER_SWEEP[1].name,
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
        budget_s: training wall-clock per run (data loading included, evaluation excluded).
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
    """Trains one run for ``settings.budget_s`` of wall-clock and scores it. Under
    ``torchrun`` (one data-parallel process per core) every process calls this; the main one
    returns the result, the others None."""
    from zipasr.train import distributed

    info = distributed.setup("cpu")
    try:
        with swish_activations() if spec.variant == "swish" else contextlib.nullcontext():
            return _train_run(spec, out, settings, info)
    finally:
        distributed.cleanup()


def _train_run(
    spec: RunSpec, out: Path, s: ConvergenceSettings, info: Any
) -> dict[str, Any] | None:
    from torch.nn.parallel import DistributedDataParallel

    from zipasr.optim import Eden, ScaledAdam
    from zipasr.train import distributed
    from zipasr.train.config import LossConfig
    from zipasr.train.data import prepare_data
    from zipasr.train.loop import seed_everything
    from zipasr.train.precision import resolve_precision
    from zipasr.train.step import Learner

    torch.set_num_threads(s.threads)
    cpu, world = torch.device("cpu"), info.world_size
    # max_duration_s is the global batch; each process takes its share of it.
    per_process = dataclasses.replace(data_config(out, s), max_duration_s=s.max_duration_s / world)
    seed = s.seed + spec.seed
    data = prepare_data(per_process, shared_dir(out), seed, info)
    dev, test = (
        torch.load(shared_dir(out) / f"eval_{split}.pt", weights_only=True)
        for split in ("dev", "test")
    )
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
    learner = Learner(
        model=wrapped,
        optimizer=optimizer,  # type: ignore[arg-type]  # any torch optimizer steps the same way
        scheduler=scheduler,
        precision=resolve_precision("fp32", cpu),
        device=cpu,
        loss=loss,
        max_duration_s=per_process.max_duration_s,
        world_size=world,
        ref_duration_s=s.ref_duration_s,
    )
    curve: list[tuple[float, int, float]] = []  # (training seconds, step, loss per frame)
    evals: list[tuple[float, int, float]] = []  # (training seconds, step, dev WER)
    eval_at = [s.budget_s * (k + 1) / s.evals for k in range(s.evals)]
    train_s, step, epoch, audio_s, diverged = 0.0, 0, 0, 0.0, False
    finished = False
    while not finished:
        if epoch and not curve:
            raise RuntimeError(f"no training batch in {per_process.train_manifest}")
        epoch += 1
        scheduler.step_epoch(epoch - 1)
        data.sampler.set_epoch(epoch)
        lap = time.perf_counter()
        for batch in data.train_loader:
            if not len(batch):
                continue
            step += 1
            stats = learner.step([batch], step, (None, None))
            # Totals over the processes; the main process's clock decides for all of them.
            elapsed = time.perf_counter() - lap if info.is_main else 0.0
            loss_sum, frames, seconds, elapsed = distributed.all_sum(
                [stats.loss, stats.frames, stats.audio_s, elapsed], cpu
            )
            train_s += elapsed
            per_frame = loss_sum / max(frames, 1)
            curve.append((train_s, step, per_frame))
            audio_s += seconds
            diverged = not math.isfinite(per_frame)
            finished = train_s >= s.budget_s or diverged
            if eval_at and (train_s >= eval_at[0] or finished):
                while eval_at and train_s >= eval_at[0]:
                    eval_at.pop(0)
                if info.is_main:
                    evals.append((train_s, step, score(model, dev)))
                distributed.barrier()
            if finished:
                break
            lap = time.perf_counter()
    if not info.is_main:
        return None
    return {
        **dataclasses.asdict(spec),
        "encoder_parameters": sum(p.numel() for p in model.encoder.parameters()),
        "parameters": sum(p.numel() for p in model.parameters()),
        "processes": world,
        "steps": step,
        "epochs": epoch,
        "train_s": train_s,
        "audio_hours_seen": audio_s / 3600,
        "diverged": diverged,
        "curve": curve,
        "dev_wer_curve": evals,
        "dev_wer": evals[-1][2] if evals else float("nan"),
        "test_wer": score(model, test),
        "test_wer_ctc": score(model, test, "ctc_greedy_search"),
    }


# --- orchestration --------------------------------------------------------------------------


def launch_run(name: str, out: Path, settings: ConvergenceSettings) -> dict[str, Any]:
    """Runs ``train_run`` for run ``name`` in a fresh process, or in ``settings.processes``
    data-parallel processes under ``torchrun``; returns its result."""
    from benchmarks.speed import ROOT, subprocess_env

    result_path = out / "convergence" / f"{name}.worker.json"
    result_path.unlink(missing_ok=True)
    spec = {
        "run": name,
        "out": str(out),
        "settings": dataclasses.asdict(settings),
        "result": str(result_path),
    }
    command = [sys.executable, "-m", "benchmarks.convergence", "--worker", json.dumps(spec)]
    if settings.processes > 1:
        command[1:2] = [
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={settings.processes}",
            "-m",
        ]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=settings.budget_s + 900,
    )
    if done.returncode != 0 or not result_path.exists():
        raise RuntimeError(
            f"run {name} failed (exit {done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
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
    for name in runs:
        results.append(_one_run(name, out, settings, log))
    if second_seed:
        done = {r["name"]: r for r in results}
        for name in main_runs(done):
            if not name.endswith(SECOND_SEED):
                results.append(_one_run(name + SECOND_SEED, out, settings, log))
    return {"settings": dataclasses.asdict(settings), "data": shared, "runs": results}


def _one_run(name: str, out: Path, settings: ConvergenceSettings, log: Any) -> dict[str, Any]:
    """One run, its result saved beside the others; resumable: a finished run is reused."""
    saved = out / "convergence" / f"{name}.json"
    if saved.exists():
        result: dict[str, Any] = json.loads(saved.read_text())
        if result.get("settings") == dataclasses.asdict(settings):
            log(f"run {name}: done before, reused ({saved})")
            return result
    log(f"run {name}: {settings.budget_s:.0f} s of training ...")
    start = time.perf_counter()
    result = launch_run(name, out, settings)
    result["wall_s"] = time.perf_counter() - start
    result["settings"] = dataclasses.asdict(settings)
    tmp = saved.with_name(saved.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(saved)
    log(
        f"  {result['steps']} steps, {result['audio_hours_seen']:.2f} h of audio seen, "
        f"test WER {result['test_wer']:.1f}% (CTC {result['test_wer_ctc']:.1f}%)"
        + (" DIVERGED" if result["diverged"] else "")
        + f", {result['wall_s']:.0f} s in all"
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    parser.add_argument("--budget-s", type=float, default=ConvergenceSettings.budget_s)
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
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        settings = ConvergenceSettings(**spec["settings"])
        result = train_run(spec_named(spec["run"]), Path(spec["out"]), settings)
        if result is not None:  # the main process
            Path(spec["result"]).write_text(json.dumps(result))
        return
    from benchmarks.report import convergence_table

    settings = ConvergenceSettings(
        budget_s=args.budget_s, processes=args.processes, pool=args.pool, hours=args.hours
    )
    results = run_convergence(args.out, settings, tuple(args.runs), second_seed=args.second_seed)
    print(convergence_table(results))


if __name__ == "__main__":
    main()
