"""``zipasr export``: sherpa-onnx files of a model, with an optional quality gate."""

from __future__ import annotations

import argparse
import sys
import time

from zipasr.cli.errors import (
    check_output_dir,
    non_negative_float,
    non_negative_int,
    positive_int,
)
from zipasr.optional import require_extra


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds the ``export`` command to ``zipasr``'s sub-commands."""
    p = subparsers.add_parser(
        "export", help="export a model to ONNX for sherpa-onnx (transducer or CTC, streaming)"
    )
    p.add_argument("model", help="a zipasr model directory or an icefall checkpoint (.pt)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--ctc", action="store_true", help="export the CTC head (one model.onnx)")
    p.add_argument("--streaming", action="store_true", help="the chunked streaming encoder")
    p.add_argument("--chunk", type=positive_int, default=16, help="streaming chunk, 50 Hz frames")
    p.add_argument(
        "--left", type=non_negative_int, default=128, help="streaming left context, 50 Hz frames"
    )
    p.add_argument("--int8", action="store_true", help="also write *.int8.onnx")
    p.add_argument("--fp16", action="store_true", help="also write *.fp16.onnx")
    p.add_argument("--tokens", help="tokens.txt, for a model that has no token table")
    p.add_argument("--dev", help="JSONL dev manifest: report each variant's WER vs PyTorch")
    p.add_argument("--dev-limit", type=positive_int, help="decode at most this many dev utterances")
    p.add_argument(
        "--int8-margin",
        type=non_negative_float,
        default=1.0,
        help="warn above this WER loss (points)",
    )
    p.set_defaults(run=run, extras=("export",))


def run(args: argparse.Namespace) -> int:
    """Loads the model, exports it, and runs the quality gate when given a dev manifest."""
    if args.dev:  # the gate reads audio: say so before the export's minute of work
        require_extra("data", "zipasr export --dev")
    from zipasr.export import ExportOptions, export_onnx
    from zipasr.loading import load

    check_output_dir(args.out)
    model = load(args.model, tokens=args.tokens)
    options = ExportOptions(
        ctc=args.ctc,
        streaming=args.streaming,
        chunk_frames=args.chunk,
        left_context_frames=args.left,
        int8=args.int8,
        fp16=args.fp16,
    )
    started = time.perf_counter()

    def progress(message: str) -> None:
        print(
            f"[{time.perf_counter() - started:5.0f} s] {message} ...", file=sys.stderr, flush=True
        )

    exported = export_onnx(model, args.out, options, on_progress=progress)
    for variant in exported:
        files = ", ".join(f"{role}={path}" for role, path in variant.files.items())
        print(f"{variant.name}: {files}, tokens={variant.tokens}")
    if args.dev:
        from zipasr.export.quality import quality_gate

        report = quality_gate(
            model, exported, args.dev, int8_margin=args.int8_margin, limit=args.dev_limit
        )
        print(report.summary())
    return 0
