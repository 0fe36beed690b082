"""``train(config)``: the whole training run, top to bottom, in plain PyTorch.

Set-up (processes, seeds, data, model, optimizer, schedule, average, precision), an optional
resume from a checkpoint, then epochs of optimizer steps. After each step: the running average,
then validation every ``valid_every_steps``, then a checkpoint every ``save_every_steps``. Each
epoch ends with a checkpoint; older checkpoints are deleted as ``keep_last`` and ``keep_epochs``
say. The run ends with the final model exported to ``exp_dir/model`` (:func:`zipasr.load` reads
it) and a training-curve PNG.

A resumed run continues bit for bit on the same hardware (CPU, ``data.num_workers=0``): the
checkpoint restores the weights, optimizer, schedule, average, sampler position and every RNG.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from zipasr.data.tokenizer import Tokenizer, write_metadata
from zipasr.metrics import WerStats, add, align
from zipasr.models import AsrModel
from zipasr.optim import Eden, ScaledAdam
from zipasr.recognize import DecodeOptions, decode_features
from zipasr.text import default_metric, metric_units
from zipasr.train import checkpoint, distributed, init
from zipasr.train.averaging import ModelAverager
from zipasr.train.checkpoint import ProcessState, TrainCheckpoint, TrainState
from zipasr.train.config import TrainConfig, save_config
from zipasr.train.data import prepare_data
from zipasr.train.distributed import DistInfo
from zipasr.train.precision import check_grad_scale, grow_small_scale, resolve_precision
from zipasr.train.report import Reporter, plot_curve
from zipasr.train.step import Learner, StepStats

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished run left behind."""

    exp_dir: Path
    model_dir: Path
    steps: int
    train_curve: list[tuple[int, float]]
    valid_curve: list[tuple[int, float]]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def draw_chunk(
    config: TrainConfig, model: AsrModel, gen: torch.Generator
) -> tuple[int | None, int | None]:
    """(chunk_frames, left_context_frames) for the next step: drawn uniformly from the
    configured lists for causal models (spec 4.2), full context otherwise."""
    if not model.config.encoder.causal:
        return None, None
    sizes, lefts = config.chunking.chunk_frames, config.chunking.left_context_frames
    chunk = sizes[int(torch.randint(len(sizes), (1,), generator=gen))]
    left = lefts[int(torch.randint(len(lefts), (1,), generator=gen))]
    return chunk, None if chunk is None else left


def _check_chunking(config: TrainConfig, model: AsrModel) -> None:
    if model.config.encoder.causal:
        for c in config.chunking.chunk_frames:
            for left in config.chunking.left_context_frames if c is not None else (None,):
                model.config.encoder.check_chunking(c, left)  # names the bad value


def train(
    config: TrainConfig, *, on_checkpoint: Callable[[Path], None] | None = None
) -> TrainResult:
    """Trains the model ``config`` describes; see the module docstring.

    Args:
        on_checkpoint: called with each checkpoint's path once it is on disk (main process).
    """
    info = distributed.setup(config.device)
    try:
        return _train(config, info, on_checkpoint)
    finally:
        distributed.cleanup()


def _train(
    config: TrainConfig, info: DistInfo, on_checkpoint: Callable[[Path], None] | None
) -> TrainResult:
    if config.threads:
        torch.set_num_threads(config.threads)
    exp_dir = Path(config.exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    resume_from, ckpt = _resume(config, exp_dir, info)
    if ckpt is not None:
        _check_resumable(config, ckpt.config, resume_from)
    # Fine-tuning: the source is read (and its names checked) before any data work, and only
    # when starting afresh: a resumed run's weights all come from its checkpoint.
    source = None
    if config.init_from and ckpt is None:
        source = init.read_source(config.init_from, averaged=config.init_averaged)
        if config.init_modules is not None:
            init.check_prefixes(source.model, config.init_modules, "init_modules")
        init.check_prefixes(source.model, config.freeze, "freeze")
    if info.is_main:
        if ckpt is not None and config.data.tokenizer is None:
            (exp_dir / "tokenizer").mkdir(exist_ok=True)  # the run's own tokenizer, as trained
            (exp_dir / "tokenizer" / "bpe.model").write_bytes(ckpt.tokenizer)
        save_config(config, exp_dir / "config.yaml")
    distributed.barrier()

    # Same weights on every process; then each process its own dropout and augmentation draws.
    seed_everything(config.seed)
    sampler_state = ckpt.sampler if ckpt is not None else None
    # With CR-CTC the step applies SpecAugment to each batch's two views, not the loader.
    loader_data = (
        dataclasses.replace(config.data, spec_augment=False) if config.loss.cr_ctc else config.data
    )
    if config.init_from and config.data.tokenizer is None and config.init_tokenizer:
        loader_data = dataclasses.replace(
            loader_data, tokenizer=str(_source_tokenizer(exp_dir, source, ckpt, info))
        )
    data = prepare_data(loader_data, exp_dir, config.seed, info, sampler_state)
    vocab_size = data.tokenizer.vocab_size
    if not config.init_from:
        model_config = config.model.build(vocab_size)
    elif ckpt is not None:
        model_config = ckpt.model_config
    else:
        assert source is not None
        model_config = dataclasses.replace(source.model.config, vocab_size=vocab_size)
    model = AsrModel(
        model_config, tokens=data.tokenizer.pieces(), normalizer=data.tokenizer.normalizer
    )
    notes = []
    fine_tuning = source is not None  # and starting afresh
    if source is not None:
        same = init.same_tokens(source, data.tokenizer.pieces())
        done = init.initialise(model, source.model, config.init_modules, same_vocabulary=same)
        notes.append(done.summary(source))
        del source
    frozen = init.freeze(model, config.freeze)
    if frozen:
        count = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        names = ", ".join(config.freeze)
        notes.append(f"frozen ({names}): {len(frozen)} tensors, {count:,} parameters")
    model = model.to(info.device)
    _check_chunking(config, model)
    seed_everything(config.seed + info.rank)
    chunk_gen = torch.Generator().manual_seed(config.seed)  # same chunking on every process

    o = config.optim
    # Frozen parameters are not the optimizer's: it neither updates nor keeps state for them.
    optimizer = ScaledAdam(init.trainable(model), lr=o.base_lr, clipping_scale=o.clipping_scale)
    scheduler = Eden(optimizer, o.lr_batches, o.lr_epochs, o.warmup_batches, o.warmup_start)
    averager = ModelAverager(model, config.average_period, config.average_start_step)
    precision = resolve_precision(config.precision, info.device)
    state = TrainState()
    if ckpt is not None:
        state = ckpt.restore(
            model=model,
            averager=averager,
            optimizer=optimizer,
            scheduler=scheduler,
            grad_scaler=precision.scaler,
            chunk_generator=chunk_gen,
            rank=info.rank,
        )
        del ckpt

    wrapped: torch.nn.Module = model
    if info.enabled:
        ids = [info.device.index] if info.device.type == "cuda" else None
        # Stochastic depth can leave parameters unused in a step, hence find_unused_parameters
        # (torch warns once that the first step used them all: that is expected).
        wrapped = DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)
        # The depthwise convolutions' (C, 1, K) weights get gradients whose stride differs only
        # in the size-1 dimension, which does not matter; torch warns about it all the same.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    learner = Learner(
        model=wrapped,
        optimizer=optimizer,
        scheduler=scheduler,
        precision=precision,
        device=info.device,
        loss=config.loss,
        max_duration_s=config.data.max_duration_s,
        world_size=info.world_size,
        ref_duration_s=config.ref_duration_s,
        spec_augment=config.data.spec_augment,
    )
    reporter = Reporter(exp_dir, config.max_steps, state.step, info.is_main, config.log_every_steps)
    reporter.message(
        f"training {model.num_parameters():,} parameters on {info.world_size} x {info.device} "
        f"({precision.name}); "
        + (f"resuming from {resume_from}" if resume_from else "from scratch")
    )
    if info.enabled:
        notes.append(
            "torch may warn below that find_unused_parameters found no unused parameters: "
            "expected, as layer skipping leaves some unused in other steps"
        )
    for note in notes:
        reporter.message(note)

    def save_checkpoint(epoch_end: bool) -> None:
        # Each process's own random state, so that each resumes its own draws.
        own = ProcessState.capture(model, chunk_gen)
        processes: list[Any] = [own]
        if info.enabled:
            processes = [None] * info.world_size
            torch.distributed.all_gather_object(processes, own)
        if not info.is_main:
            return
        saved_state = TrainState(**vars(state))
        if epoch_end:  # resume at the start of the next epoch
            saved_state.epoch, saved_state.batches_in_epoch = state.epoch + 1, 0
        path = TrainCheckpoint(
            model=model.state_dict(),
            model_avg=averager.state_dict(),
            optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(),
            grad_scaler=precision.scaler.state_dict() if precision.scaler else None,
            state=saved_state,
            sampler=None if epoch_end else data.sampler.state_dict(state.batches_in_epoch),
            processes=processes,
            config=config,
            model_config=model.config,
            tokenizer=data.tokenizer.model_path.read_bytes(),
            tokenizer_kind=data.tokenizer.kind,
            normalizer=data.tokenizer.normalizer,
        ).save(checkpoint.checkpoint_path(exp_dir, state.step))
        checkpoint.remove_stale(exp_dir, config.keep_last, _kept_epoch_ends(config, state))
        if on_checkpoint is not None:
            on_checkpoint(path)

    if fine_tuning and data.valid_loader is not None:  # where fine-tuning starts from
        _validate(learner, data.valid_loader, state, reporter, info, config)
    start, audio_s = time.perf_counter(), 0.0
    finished = config.max_steps is not None and state.step >= config.max_steps
    while not finished and state.epoch <= config.num_epochs:
        scheduler.step_epoch(state.epoch - 1)
        data.sampler.set_epoch(state.epoch)  # keeps a just-restored position in this epoch
        pending = []
        for batch in data.train_loader:
            state.batches_in_epoch += 1
            data.skips.extend(batch.skipped)
            if len(batch):
                pending.append(batch)
            if len(pending) < config.accum_grad:
                continue
            state.step += 1
            stats = learner.step(pending, state.step, draw_chunk(config, model, chunk_gen))
            pending = []
            if precision.scaler is not None:
                check_grad_scale(precision.scaler.get_scale(), state.step)
                grow_small_scale(precision.scaler, state.step)
            if averager.due(state.step) and info.is_main:
                averager.update(model, state.step)
            audio_s += stats.audio_s * info.world_size
            _log_step(
                reporter, state, stats, scheduler, audio_s / (time.perf_counter() - start), config
            )
            if data.valid_loader is not None and state.step % config.valid_every_steps == 0:
                _validate(learner, data.valid_loader, state, reporter, info, config)
            if state.step % config.save_every_steps == 0:
                save_checkpoint(epoch_end=False)
            finished = config.max_steps is not None and state.step >= config.max_steps
            if finished:
                break
        if not finished:
            state.epoch_ends.append(state.step)
            save_checkpoint(epoch_end=True)
            state.epoch, state.batches_in_epoch = state.epoch + 1, 0
    # The same test on every process (only the main one keeps the curve): _validate waits for all.
    if data.valid_loader is not None and state.step % config.valid_every_steps:
        _validate(learner, data.valid_loader, state, reporter, info, config)
    if state.step % config.save_every_steps and finished:
        save_checkpoint(epoch_end=False)
    model_dir = exp_dir / "model"
    if info.is_main:
        final = (
            averager.averaged(model)
            if config.export_averaged and state.step >= averager.start_step + averager.period
            else model
        )
        tokenizer = data.tokenizer
        checkpoint.write_model_dir(
            final,
            tokenizer.model_path.read_bytes(),
            tokenizer.kind,
            tokenizer.normalizer,
            model_dir,
        )
        plot_curve(
            state.train_curve,
            state.valid_curve,
            exp_dir / "training_curve.png",
            valid_wer=state.valid_wer_curve,
        )
        reporter.message(data.skips.summary())
    reporter.close()
    return TrainResult(exp_dir, model_dir, state.step, state.train_curve, state.valid_curve)


def _source_tokenizer(
    exp_dir: Path, source: init.InitSource | None, ckpt: TrainCheckpoint | None, info: DistInfo
) -> Path:
    """``exp_dir/init_tokenizer/bpe.model``: the fine-tuning source's tokenizer, written there
    (with its kind and normaliser) when the run starts and read again when it resumes."""
    path = exp_dir / "init_tokenizer" / "bpe.model"
    if source is not None and source.tokenizer is None:
        raise ValueError(
            f"init_from={source.path} comes without a tokenizer (no bpe.model beside it): "
            "give the one it was trained with (zipasr finetune --tokenizer; data.tokenizer), "
            "or train a new vocabulary on the training transcripts (--vocab-size N; "
            "init_tokenizer: false)"
        )
    if info.is_main and (source is not None or not path.exists()):
        if source is None:  # resuming without the folder: the checkpoint has the file
            assert ckpt is not None
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(ckpt.tokenizer)
        else:
            assert source.tokenizer is not None
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(source.tokenizer)
            normalizer = source.normalizer or source.model.normalizer
            write_metadata(Tokenizer(path, source.tokenizer_kind, normalizer), path.parent)
    distributed.barrier()
    return path


def _kept_epoch_ends(config: TrainConfig, state: TrainState) -> list[int]:
    """The epoch-end steps whose checkpoints ``keep_epochs`` protects from deletion."""
    if config.keep_epochs is None:
        return state.epoch_ends
    return state.epoch_ends[len(state.epoch_ends) - config.keep_epochs :]


def _resume(
    config: TrainConfig, exp_dir: Path, info: DistInfo
) -> tuple[Path | None, TrainCheckpoint | None]:
    """The checkpoint to resume from (``config.resume``), read; (None, None) to start afresh."""
    if config.resume is None:
        return None, None
    if config.resume != "auto":
        return Path(config.resume), TrainCheckpoint.load(config.resume)
    # The main process picks (and sets a corrupt newest checkpoint aside); the others load the
    # very file it picked, so that every process resumes from the same step.
    found = checkpoint.load_newest(exp_dir) if info.is_main else None
    picked = [str(found[0]) if found is not None else None]
    if info.enabled:
        torch.distributed.broadcast_object_list(picked, src=0)
    if picked[0] is None:
        return None, None
    if found is None:
        found = Path(picked[0]), TrainCheckpoint.load(picked[0])
    return found


#: What a resumed run may not change: the model, what its vocabulary is made from, and which
#: parameters the optimizer holds.
_FIXED_ON_RESUME = ("model", "data.vocab_size", "data.tokenizer", "freeze", "init_tokenizer")


def _check_resumable(config: TrainConfig, saved: TrainConfig, path: Path | None) -> None:
    """Raises ValueError if ``config`` changes what the checkpoint's run was built from."""
    changed = []
    for name in _FIXED_ON_RESUME:
        now, then = config, saved
        for part in name.split("."):
            now, then = getattr(now, part), getattr(then, part)
        if now != then:
            changed.append(f"{name}: {then!r} in the checkpoint, {now!r} now")
    if changed:
        raise ValueError(
            f"cannot resume from {path}: the config changes what that run was built from ("
            + "; ".join(changed)
            + "). Resume with the checkpoint's values, or start a new exp_dir"
        )


def _log_step(
    reporter: Reporter,
    state: TrainState,
    stats: StepStats,
    scheduler: Eden,
    speed: float,
    config: TrainConfig,
) -> None:
    per_frame = stats.loss / max(stats.frames, 1)
    state.train_curve.append((state.step, per_frame))
    lr = max(scheduler.get_last_lr())
    scalars = {"loss": per_frame, "learning_rate": lr}
    for name in ("simple", "pruned", "ctc", "cr_ctc", "attention"):
        if getattr(stats, name):
            scalars[f"{name}_loss"] = getattr(stats, name) / max(stats.frames, 1)
    postfix = {
        "epoch": str(state.epoch),
        "loss": f"{per_frame:.3f}",
        "lr": f"{lr:.2e}",
        "speed": f"{speed:.0f}x RT",
    }
    reporter.step(state.step, scalars, postfix)


def _validate(
    learner: Learner,
    loader: Any,
    state: TrainState,
    reporter: Reporter,
    info: DistInfo,
    config: TrainConfig,
) -> None:
    if info.is_main:
        stats = learner.validate(loader, state.step)
        per_frame = stats.loss / max(stats.frames, 1)
        state.valid_curve.append((state.step, per_frame))
        reporter.scalar("valid/loss", per_frame, state.step)
        text = f"step {state.step}: validation loss {per_frame:.4f} per frame"
        text += f" ({stats.utterances} utterances)"
        if config.valid_wer_utterances:
            wer = valid_wer(learner.asr, loader, config.valid_wer_utterances)
            state.valid_wer_curve.append((state.step, wer.wer))
            reporter.scalar(f"valid/{wer.metric}", wer.wer, state.step)
            text += f"; greedy search: {wer}"
        reporter.message(text)
    distributed.barrier()


@torch.no_grad()
def valid_wer(model: AsrModel, loader: Any, utterances: int) -> WerStats:
    """The error rate of greedy search (CTC greedy for a CTC-only model), with full context,
    on the first ``utterances`` utterances of ``loader`` (its batches' normalised texts are
    the references; the metric is the model's, :func:`zipasr.text.default_metric`)."""
    method = "greedy_search" if model.transducer is not None else "ctc_greedy_search"
    options = DecodeOptions(method=method)
    metric = default_metric(model.tokens)
    stats = WerStats(metric=metric)
    was_training = model.training
    model.eval()
    done = 0
    for batch in loader:
        take = min(len(batch), utterances - done)
        if take <= 0:
            break
        lengths = batch.feature_lengths.tolist()
        feats = [batch.features[b, : lengths[b]] for b in range(take)]
        for ref, hyp in zip(batch.texts[:take], decode_features(model, feats, options)):
            ref_units = metric_units(ref, metric)
            add(stats, align(ref_units, metric_units(hyp.text or "", metric)))
        done += take
    model.train(was_training)
    return stats
