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

    import zipasr
    from zipasr.cli.errors import CliError
    from zipasr.decoding.lm import estimate_ngram, write_arpa
    from zipasr.recognize import text_encoder

    out = Path(args.out)
    if not out.parent.is_dir():
        raise CliError(f"--out {out}: folder {out.parent} does not exist")
    model = zipasr.load(args.model, tokens=args.tokens)
    encode = text_encoder(model, args.model)
    table = model.tokens
    assert table is not None  # text_encoder checked it
    try:
        lines = Path(args.text).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise CliError(f"cannot read {args.text}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{args.text} is not UTF-8 text") from None
    sentences = [[table[i] for i in encode(line)] for line in lines if line.strip()]
    sentences = [s for s in sentences if s]
    if not sentences:
        raise CliError(f"{args.text} has no sentences")
    bad = sorted({p for s in sentences for p in s if not p or any(c.isspace() for c in p)})
    if bad:
        raise CliError(f"tokens {bad[:3]} contain white space and cannot be ARPA words")
    vocabulary = [p for i, p in enumerate(table) if i > 2 and not any(c.isspace() for c in p)]
    entries = estimate_ngram(sentences, args.order, vocabulary)
    write_arpa(entries, out)
    counts = [sum(1 for w in entries if len(w) == n) for n in range(1, args.order + 1)]
    tokens = sum(len(s) for s in sentences)
    print(
        f"{out}: {args.order}-gram over {len(sentences)} sentences ({tokens} tokens); "
        f"n-grams per order: {counts}"
    )
    return 0
