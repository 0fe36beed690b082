"""``zipasr train-lm``: a token n-gram language model of a text, for ``--lm`` and ``--lodr``."""

from __future__ import annotations

import argparse

from zipasr.cli.errors import positive_int


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds the ``train-lm`` command to ``zipasr``'s sub-commands."""
    p = subparsers.add_parser(
        "train-lm",
        help="estimate a token n-gram LM (ARPA) of a text, for --lm / --lodr",
        description="Estimate an n-gram language model over a model's own tokens from a text "
        "file (one sentence per line), tokenised with the model's tokenizer, with interpolated "
        "Kneser-Ney smoothing; written as an ARPA file for transcribe/decode --lm or --lodr.",
    )
    p.add_argument("model", help="a zipasr model directory (its bpe.model tokenises the text)")
    p.add_argument("text", help="UTF-8 text file, one sentence per line")
    p.add_argument("--order", type=positive_int, default=3, help="n of the n-gram (default 3)")
    p.add_argument("--out", required=True, metavar="LM.arpa", help="the ARPA file to write")
    p.add_argument("--tokens", help="tokens.txt, for an icefall checkpoint without one beside it")
    p.set_defaults(run=run, extras=("data",))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from zipasr.cli.errors import CliError
    from zipasr.recognize import train_lm

    out = Path(args.out)
    if out.is_dir():
        raise CliError(f"--out {out} is a folder; name the ARPA file to write, e.g. {out}/lm.arpa")
    if not out.parent.is_dir():
        raise CliError(f"--out {out}: folder {out.parent} does not exist")
    try:
        lines = Path(args.text).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise CliError(f"cannot read {args.text}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{args.text} is not UTF-8 text") from None
    if not any(line.strip() for line in lines):
        raise CliError(f"{args.text} has no sentences")
    print(train_lm(args.model, lines, out, args.order, tokens=args.tokens))
    return 0
