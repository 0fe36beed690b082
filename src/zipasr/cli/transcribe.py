"""``zipasr transcribe`` and ``zipasr decode``: recognise files, or score a manifest."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from zipasr.decoding import DECODERS


def _model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a zipasr model directory, or an icefall checkpoint (.pt)")
    p.add_argument("--tokens", help="tokens.txt, for an icefall checkpoint without one beside it")
    p.add_argument(
        "--method",
        default="greedy_search",
        choices=[*DECODERS, "ctc_greedy_search"],
        help="decoding method (default: greedy_search)",
    )
    p.add_argument("--beam", type=int, default=4, help="beam for modified_beam_search")
    p.add_argument(
        "--max-symbols",
        type=int,
        default=1,
        help="greedy_search, offline: tokens per encoder frame (default 1, as icefall)",
    )
    p.add_argument("--chunk", type=int, help="causal models: chunk (50 Hz frames)")
    p.add_argument("--left", type=int, help="causal models: left context (50 Hz frames)")
    p.add_argument("--batch-size", type=int, default=8)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("transcribe", help="recognise audio files")
    _model_arguments(p)
    p.add_argument("audio", nargs="+", help="audio files (WAV, FLAC, OGG; any sample rate)")
    p.add_argument("--json", action="store_true", help="JSON lines with tokens and timestamps")
    p.add_argument(
        "--streaming", action="store_true", help="chunk by chunk, showing partial results"
    )
    p.set_defaults(run=run_transcribe, extras=("data",))

    d = subparsers.add_parser(
        "decode", help="decode a manifest and report the error rate (WER, CER or MER)"
    )
    _model_arguments(d)
    d.add_argument("manifest", help="JSONL manifest, lhotse cut manifest, or a folder")
    d.add_argument("--out", default="decode", help="where recogs.txt and errs.txt go")
    d.add_argument(
        "--metric",
        choices=["wer", "cer", "mer"],
        help="word, character (spaces not counted) or mixed (CJK characters + words) error "
        "rate (default: from the model's token table: cer for Chinese char/bbpe models, mer "
        "for bilingual ones, else wer)",
    )
    d.add_argument(
        "--normalizer",
        choices=["english", "basic", "none"],
        help="how references are normalised before scoring (default: the model's own)",
    )
    d.set_defaults(run=run_decode, extras=("data",))


def _load(args: argparse.Namespace):  # -> AsrModel
    import zipasr
    from zipasr.models.storage import read_tokens

    model = zipasr.load(args.model)
    if args.tokens:
        model.tokens = read_tokens(args.tokens)
    return model


def _options(args: argparse.Namespace):  # -> DecodeOptions
    from zipasr.recognize import DecodeOptions

    return DecodeOptions(
        method=args.method,
        beam=args.beam,
        chunk_frames=args.chunk,
        left_context_frames=args.left,
        batch_size=args.batch_size,
        max_symbols_per_frame=args.max_symbols,
    )


def run_transcribe(args: argparse.Namespace) -> int:
    from zipasr.recognize import transcribe_files, transcribe_streaming
    from zipasr.streaming import StreamingConfig

    model = _load(args)
    if args.streaming:
        config = StreamingConfig(
            chunk_frames=args.chunk or 16,
            left_context_frames=args.left or 128,
            method=args.method if args.method != "ctc_greedy_search" else "greedy_search",
            beam=args.beam,
        )

        def show(text: str) -> None:
            print(f"\r{text}", end="", file=sys.stderr, flush=True)

        hyps = []
        for path in args.audio:
            hyps.append(
                transcribe_streaming(model, path, config, show if sys.stderr.isatty() else None)
            )
            if sys.stderr.isatty():
                print(file=sys.stderr)
    else:
        hyps = transcribe_files(model, args.audio, _options(args))
    for path, hyp in zip(args.audio, hyps):
        if args.json:
            record = {
                "path": path,
                "text": hyp.text,
                "tokens": hyp.tokens,
                "timestamps": hyp.timestamps_s,
            }
            print(json.dumps(record, ensure_ascii=False))
        else:
            print(f"{path}\t{hyp.text if hyp.text is not None else hyp.tokens}")
    return 0


def run_decode(args: argparse.Namespace) -> int:
    from zipasr.recognize import check_out_dir, decode_manifest

    check_out_dir(args.out)  # a bad --out fails now, not after the decode
    report = decode_manifest(
        _load(args),
        args.manifest,
        args.out,
        _options(args),
        metric=args.metric,
        normalizer=args.normalizer,
        progress=sys.stderr.isatty(),
    )
    if report.skips is not None and report.skips.total:
        print(report.skips.summary(), file=sys.stderr)
    print(f"{report.stats}  (skipped {report.skipped}; details in {Path(args.out) / 'errs.txt'})")
    return 0
