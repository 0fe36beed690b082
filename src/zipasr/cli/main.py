"""``zipasr {info,synth,...}``: thin wrappers around library calls.

Only the core install is needed to parse any command line, print help and run ``info``; each
command imports what it needs when it runs, and a missing optional dependency is reported as
``zipasr: error: ... pip install "zipasr[<extra>]"`` (exit code 3), not as a traceback. Every
other anticipated failure is one ``zipasr: error: ...`` line too (``zipasr.cli.errors`` lists the
exit codes); ``--debug`` or ``ZIPASR_DEBUG=1`` adds the traceback.

Every command first makes glibc keep freed memory for reuse (``zipasr.allocator``: CPU
forwards and training steps 7-10% faster from the second on); ``ZIPASR_MALLOC=system`` keeps
glibc's defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence

import torch

from zipasr.allocator import keep_freed_memory_unless_disabled
from zipasr.cli import export, finetune, lm, synth, train, transcribe
from zipasr.cli.errors import (
    EXIT_MISSING_EXTRA,
    ArgumentParser,
    CliError,
    debug_requested,
    error,
    positive_float,
    positive_int,
    report,
    show_warnings,
)
from zipasr.encoder import Zipformer, ZipformerConfig
from zipasr.frontend import FEATURE_FRAME_RATE, NUM_MEL_BINS
from zipasr.optional import MissingExtraError, require_extra

__all__ = ["EXIT_MISSING_EXTRA", "build_parser", "main"]

PRESETS = {
    "small": ZipformerConfig.small,
    "medium": ZipformerConfig.medium,
    "large": ZipformerConfig.large,
}


def info(preset: str, causal: bool, seconds: float, threads: int) -> None:
    """Prints a preset's architecture and size, and times one eval forward on random input."""
    if seconds > 600:
        raise CliError(f"--seconds {seconds:g}: time at most 600 s of audio (memory grows with it)")
    torch.set_num_threads(threads)
    config = PRESETS[preset](causal=causal)
    model = Zipformer(config).eval()
    params = sum(p.numel() for p in model.parameters())
    print(f"Zipformer-{preset[0].upper()}{' (causal)' if causal else ''}: {params:,} parameters")
    for field in dataclasses.fields(config):
        print(f"  {field.name:18s} {getattr(config, field.name)}")
    frames = int(seconds * FEATURE_FRAME_RATE)
    features, lengths = torch.randn(1, frames, NUM_MEL_BINS), torch.tensor([frames])
    with torch.no_grad():
        start = time.perf_counter()
        out, out_lengths = model(features, lengths)
        elapsed = time.perf_counter() - start
    print(
        f"forward: {frames} feature frames ({seconds:g} s of audio) -> {tuple(out.shape)} in "
        f"{elapsed:.2f} s on {threads} CPU thread(s) (random weights)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``zipasr`` argument parser with every sub-command (nothing runs; the docs test
    parses the documented command lines with it)."""
    parser = ArgumentParser(
        prog="zipasr",
        description="Zipformer speech recognition",
        epilog="Every command makes glibc keep freed memory for reuse (faster on a CPU; the "
        "process keeps its peak memory); ZIPASR_MALLOC=system keeps glibc's defaults.",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the Python traceback of an error (also: ZIPASR_DEBUG=1)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("info", help="show a preset's architecture, size and speed")
    p.add_argument("--preset", choices=sorted(PRESETS), default="small")
    p.add_argument("--causal", action="store_true", help="the streaming variant")
    p.add_argument(
        "--seconds", type=positive_float, default=10.0, help="audio length to time (at most 600)"
    )
    p.add_argument("--threads", type=positive_int, default=torch.get_num_threads())
    synth.add_parser(commands)
    transcribe.add_parser(commands)
    train.add_parser(commands)
    export.add_parser(commands)
    lm.add_parser(commands)
    finetune.add_parser(commands)
    for command in commands.choices.values():  # --debug also after the command's name
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        try:
            keep_freed_memory_unless_disabled()
        except ValueError as exc:
            raise CliError(str(exc)) from None
        if args.command == "info":
            info(args.preset, args.causal, args.seconds, args.threads)
            return 0
        for extra in args.extras:  # before any work starts
            require_extra(extra, f"zipasr {args.command}")
        if not getattr(args, "own_logging", False):
            show_warnings()
        return int(args.run(args) or 0)
    except MissingExtraError as exc:
        error(str(exc))
        return EXIT_MISSING_EXTRA
    except (Exception, KeyboardInterrupt) as exc:
        return report(exc, debug=debug_requested(args.debug))


if __name__ == "__main__":
    sys.exit(main())
