"""``zipasr {info,synth,...}``: thin wrappers around library calls."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence

import torch

from zipasr.cli import export, synth, train, transcribe
from zipasr.encoder import Zipformer, ZipformerConfig
from zipasr.testing import random_features

PRESETS = {
    "small": ZipformerConfig.small,
    "medium": ZipformerConfig.medium,
    "large": ZipformerConfig.large,
}


def info(preset: str, causal: bool, seconds: float, threads: int) -> None:
    """Prints a preset's architecture and size, and times one eval forward on random input."""
    torch.set_num_threads(threads)
    config = PRESETS[preset](causal=causal)
    model = Zipformer(config).eval()
    params = sum(p.numel() for p in model.parameters())
    print(f"Zipformer-{preset[0].upper()}{' (causal)' if causal else ''}: {params:,} parameters")
    for field in dataclasses.fields(config):
        print(f"  {field.name:18s} {getattr(config, field.name)}")
    frames = int(seconds * 100)
    features, lengths = random_features([frames])
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
    parser = argparse.ArgumentParser(prog="zipasr", description="Zipformer speech recognition")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("info", help="show a preset's architecture, size and speed")
    p.add_argument("--preset", choices=sorted(PRESETS), default="small")
    p.add_argument("--causal", action="store_true", help="the streaming variant")
    p.add_argument("--seconds", type=float, default=10.0, help="audio length to time")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    synth.add_parser(commands)
    transcribe.add_parser(commands)
    train.add_parser(commands)
    export.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "info":
        info(args.preset, args.causal, args.seconds, args.threads)
        return 0
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
