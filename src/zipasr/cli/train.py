"""``zipasr train`` and ``zipasr demo``: parse into the training config, call the library."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from zipasr.cli.errors import CliError, check_output_dir, positive_float, positive_int


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``train`` and ``demo`` to ``zipasr``'s sub-commands."""
    p = subparsers.add_parser(
        "train",
        help="train a recognizer from a YAML config",
        description="Trains from CONFIG.yaml; any field can be overridden with --section.field "
        "VALUE (e.g. --optim.base_lr 0.03 --resume auto). Under torchrun: one process per GPU.",
    )
    p.add_argument("config", help="YAML training config (see recipes/)")
    p.add_argument("overrides", nargs=argparse.REMAINDER, help="--section.field value pairs")
    p.set_defaults(run=run_train, extras=("train",), own_logging=True)

    d = subparsers.add_parser(
        "demo", help="synthesise a corpus, train a small streaming model on CPU, report its WER"
    )
    d.add_argument("--out", default="zipasr-demo", help="folder for data/, exp/ and model/")
    d.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run of the pipeline: a tiny model, 30 steps on 0.03 h (about a minute; "
        "its model is untrained, so expect empty text and WER 100%%)",
    )
    d.add_argument(
        "--cr-ctc",
        action="store_true",
        help="train with consistency-regularised CTC (CR-CTC): two views of half the audio "
        "per step, differing by the model's dropout and layer skipping (no SpecAugment)",
    )
    d.add_argument(
        "--attention-decoder",
        action="store_true",
        help="add an attention-decoder head (for CTC / transducer n-best rescoring)",
    )
    d.add_argument(
        "--language",
        default="en",
        choices=("en", "cmn"),
        help="en: English, letters, scored by WER (default); cmn: Mandarin Chinese, "
        "characters, scored by CER",
    )
    d.add_argument(
        "--pool",
        choices=("templates", "wide"),
        default=None,
        help="English sentence pool of the corpus: wide (about 3,150 words, 12%% of the lemmas "
        "held out of training; the test WER is also reported for sentences with unseen words; "
        "the default) or templates (199 words in fixed shapes: a phrase book, easier). "
        "An existing OUT/data must have been built with this pool",
    )
    d.add_argument(
        "--hours",
        type=positive_float,
        default=None,
        help="hours of synthetic speech in the corpus (default 1, 0.03 with --quick; an "
        "existing OUT/data must have been built with these hours)",
    )
    d.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        help="training steps of 30 s of audio (default 1000 for English, about 13 minutes "
        "on 2 cores, 1350 for Mandarin; "
        "the schedules are sized for the count). A longer run with more audio, e.g. --hours 3 "
        "--steps 5400, learns more than the default's 15-minute budget allows",
    )
    d.set_defaults(run=run_demo, extras=("train",), own_logging=True)


def run_train(args: argparse.Namespace) -> int:
    from zipasr.train import load_config, train

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True
    )
    config = load_config(args.config, args.overrides)
    check_output_dir(config.exp_dir, "exp_dir")
    paths = {n: getattr(config.data, n) for n in ("train_manifest", "valid_manifest", "tokenizer")}
    paths |= {f"train_manifests[{i}]": s.path for i, s in enumerate(config.data.train_manifests)}
    paths |= {n: getattr(config.data, n) for n in ("noise_manifest", "rir_manifest")}
    for name, path in paths.items():
        if path and not Path(path).exists():
            raise CliError(f"data.{name}: {path} does not exist")
    result = train(config)
    print(f"trained {result.steps} steps; model in {result.model_dir}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from zipasr.train.demo import DEMO_BLANK_PENALTY, DEMO_LM_SCALE, QUICK_STEPS
    from zipasr.train.demo import run_demo as demo

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True
    )
    check_output_dir(args.out)
    r = demo(
        args.out,
        quick=args.quick,
        cr_ctc=args.cr_ctc,
        attention_decoder=args.attention_decoder,
        language=args.language,
        pool=args.pool,
        hours=args.hours,
        steps=args.steps,
    )
    times = ", ".join(f"{k} {v:.0f} s" for k, v in r.seconds.items())
    print("held-out test split (voices and sentences unseen in training):")
    print(f"  offline, modified beam search (beam 4): {r.wer_beam}")
    print(f"  offline, greedy search:                 {r.wer_offline}")
    print(f"  streaming (320 ms chunks), greedy:      {r.wer_streaming}")
    for group, wer in r.wer_by_words.items():
        print(f"  beam search, sentences with {group + ' words:':14}{wer}")
    if r.wer_lm:
        print(f"  beam search + language model:           {r.wer_lm}")
    for group, wer in r.wer_by_words_lm.items():
        print(f"  beam search + LM, sentences with {group + ' words:':14}{wer}")
    for method, wer in r.wer_rescored.items():
        print(f"  offline, {method} (beam 4): {wer}")
    same, total = r.streaming_agreement
    print(f"chunk-by-chunk streaming of the raw audio gave the same text for {same}/{total}")
    print(f"{r.example_file.name}: {r.example_text or '(empty)'}")
    print(f"model: {r.model_dir} (zipasr transcribe {r.model_dir} FILE.wav); time: {times}")
    if r.lm_path is not None:
        print(
            f"language model: {r.lm_path} (zipasr transcribe {r.model_dir} FILE.wav --method "
            f"modified_beam_search --lm {r.lm_path} --lm-scale {DEMO_LM_SCALE} "
            f"--blank-penalty {DEMO_BLANK_PENALTY})"
        )
    if args.quick:
        print(
            f"--quick is a {args.steps or QUICK_STEPS}-step smoke run of the pipeline: its model "
            "has not learned yet, so empty text and an error rate of 100% are expected; run "
            "without --quick to train for real"
        )
    return 0
