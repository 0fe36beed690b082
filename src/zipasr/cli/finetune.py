"""``zipasr finetune`` and ``zipasr average``: parse, then call :mod:`zipasr.train.finetuning` /
:mod:`zipasr.train.average`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from zipasr.cli.errors import CliError, check_output_dir, positive_float, positive_int


def _prefixes(text: str) -> tuple[str, ...]:
    """An argparse ``type`` for comma-separated parameter-name prefixes."""
    names = tuple(n.strip() for n in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected names separated by commas, got {text!r}")
    return names


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``finetune`` and ``average`` to ``zipasr``'s sub-commands."""
    p = subparsers.add_parser(
        "finetune",
        help="fine-tune a trained model on new data",
        description="Initialises from MODEL (a zipasr model directory, a zipasr training "
        "checkpoint or an icefall checkpoint) and trains on TRAIN_MANIFEST with icefall's "
        "fine-tuning learning rate; writes checkpoints and logs to DIR and the fine-tuned "
        "model to DIR/model (for zipasr transcribe / export). For every other setting, use "
        "zipasr train with init_from in the config.",
    )
    p.add_argument("model", help="the trained model to start from")
    p.add_argument("train_manifest", help="training data: JSONL, lhotse cuts or a folder")
    p.add_argument("--out", required=True, help="folder for checkpoints, logs and model/")
    p.add_argument("--valid", help="validation manifest (loss and greedy WER at each validation)")
    p.add_argument("--max-steps", type=positive_int, help="stop after this many optimizer steps")
    p.add_argument("--epochs", type=positive_int, default=20, help="passes over the data (20)")
    p.add_argument(
        "--freeze",
        type=_prefixes,
        default=(),
        help="comma-separated parameter-name prefixes not to train (e.g. encoder, or "
        "encoder.embed,encoder.stacks.0)",
    )
    p.add_argument(
        "--init-modules",
        type=_prefixes,
        help="copy only these modules from MODEL (e.g. encoder); the rest start afresh",
    )
    vocab = p.add_mutually_exclusive_group()
    vocab.add_argument(
        "--tokenizer",
        help="a new tokenizer (bpe.model) instead of MODEL's; re-initialises "
        "the tensors indexed by the vocabulary",
    )
    vocab.add_argument(
        "--vocab-size",
        type=positive_int,
        help="train a new tokenizer of this size on the training transcripts",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        help="base learning rate (default: icefall's for fine-tuning, 0.0045)",
    )
    p.add_argument(
        "--max-duration",
        type=positive_float,
        default=1000.0,
        help="audio seconds per batch (1000, the recipe's; lower it on a CPU)",
    )
    p.add_argument(
        "--valid-wer-utterances",
        type=int,
        default=200,
        help="validation utterances decoded for the WER (200; 0: none)",
    )
    p.add_argument(
        "--ref-duration",
        type=positive_float,
        default=600.0,
        help="audio seconds per reference batch of the regularisers' schedules (the "
        "recipe's 600); a short run on a small corpus can lower it (see docs/finetuning.md)",
    )
    p.add_argument(
        "--warm-step",
        type=positive_int,
        help="steps of the transducer loss warm-up (the recipe's 2000)",
    )
    p.add_argument(
        "--no-spec-augment",
        action="store_true",
        help="train without SpecAugment (e.g. for a model trained without it)",
    )
    p.add_argument("--threads", type=positive_int, help="CPU threads")
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        help="data-loading processes (2; 0 loads in the training process)",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its newest checkpoint"
    )
    p.set_defaults(run=run_finetune, extras=("train",), own_logging=True)

    a = subparsers.add_parser(
        "average",
        help="average the last checkpoints of a training run into a model",
        description="Writes the mean of the weights of EXP_DIR's newest N checkpoints "
        "(checkpoint-<step>.pt) as a model directory, as icefall's --epoch/--avg does.",
    )
    a.add_argument("exp_dir", help="a training run's folder (zipasr train / finetune)")
    a.add_argument("--last", type=positive_int, required=True, help="how many checkpoints")
    a.add_argument("--out", required=True, help="the model directory to write")
    a.add_argument(
        "--use-averaged",
        action="store_true",
        help="average every model the trainer's running average took over the span of the "
        "last N checkpoints (from the one before them), as icefall's --use-averaged-model",
    )
    a.set_defaults(run=run_average, extras=("train",))


def run_finetune(args: argparse.Namespace) -> int:
    from zipasr.train import train
    from zipasr.train.finetuning import finetune_config

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True
    )
    for what, path in (("MODEL", args.model), ("TRAIN_MANIFEST", args.train_manifest)):
        if not Path(path).exists():
            raise CliError(f"{what} {path} does not exist")
    for option, path in (("--valid", args.valid), ("--tokenizer", args.tokenizer)):
        if path and not Path(path).is_file():
            raise CliError(f"{option} {path} is not a file")
    if args.workers < 0:
        raise CliError(f"--workers {args.workers} must be >= 0")
    if args.valid_wer_utterances < 0:
        raise CliError(f"--valid-wer-utterances {args.valid_wer_utterances} must be >= 0")
    check_output_dir(args.out)
    config = finetune_config(
        args.model,
        args.train_manifest,
        args.out,
        valid_manifest=args.valid,
        max_steps=args.max_steps,
        num_epochs=args.epochs,
        freeze=args.freeze,
        init_modules=args.init_modules,
        tokenizer=args.tokenizer,
        vocab_size=args.vocab_size,
        base_lr=args.lr,
        max_duration_s=args.max_duration,
        num_workers=args.workers,
        spec_augment=not args.no_spec_augment,
        warm_step=args.warm_step,
        ref_duration_s=args.ref_duration,
        valid_wer_utterances=args.valid_wer_utterances,
        resume="auto" if args.resume else None,
        threads=args.threads,
    )
    result = train(config)
    print(f"fine-tuned {result.steps} steps; model in {result.model_dir}")
    return 0


def run_average(args: argparse.Namespace) -> int:
    from zipasr.train.average import average_last

    if not Path(args.exp_dir).is_dir():
        raise CliError(f"EXP_DIR {args.exp_dir} is not a folder")
    check_output_dir(args.out)
    out, paths = average_last(args.exp_dir, args.last, args.out, use_averaged=args.use_averaged)
    how = "the running averages of " if args.use_averaged else ""
    print(f"averaged {how}{', '.join(p.name for p in paths)} into {out}")
    return 0
