"""``zipasr transcribe`` and ``zipasr decode``: recognise files, or score a manifest."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from zipasr.cli.errors import non_negative_float, non_negative_int, positive_float, positive_int
from zipasr.decoding import METHODS, all_methods
from zipasr.longform.segmenter import SegmenterOptions


def _model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a zipasr model directory, or an icefall checkpoint (.pt)")
    p.add_argument("--tokens", help="tokens.txt, for an icefall checkpoint without one beside it")
    p.add_argument(
        "--method",
        default="greedy_search",
        choices=all_methods(),
        help="decoding method (default: greedy_search); greedy_search and modified_beam_search "
        "need a transducer head, the ctc_* ones a CTC head, the *_attention_decoder_rescoring "
        "ones an attention decoder",
    )
    p.add_argument(
        "--beam",
        type=positive_int,
        default=4,
        help="beam (and rescoring n-best size) of the beam searches",
    )
    p.add_argument(
        "--blank-penalty",
        type=non_negative_float,
        default=0.0,
        help="subtracted from the blank's score in every search (> 0: fewer deletions; default 0)",
    )
    p.add_argument(
        "--lm",
        metavar="LM.arpa",
        help="a token n-gram LM (ARPA; see zipasr train-lm) for shallow fusion in "
        "modified_beam_search and ctc_prefix_beam_search",
    )
    p.add_argument(
        "--lm-scale", type=non_negative_float, default=0.3, help="weight of --lm (default 0.3)"
    )
    p.add_argument(
        "--lodr",
        metavar="LM.arpa",
        help="LODR: a low-order (e.g. bigram) token LM of the model's training text, whose "
        "score is subtracted (with --lm)",
    )
    p.add_argument(
        "--lodr-scale",
        type=non_negative_float,
        default=0.1,
        help="weight of --lodr, subtracted (default 0.1)",
    )
    p.add_argument(
        "--hotwords",
        metavar="FILE",
        help="phrases to boost (beam searches): one per line, optionally ending ' :SCORE' (the "
        "bonus per token for that phrase), as sherpa-onnx's hotwords files",
    )
    p.add_argument(
        "--hotwords-score",
        type=non_negative_float,
        default=1.5,
        help="bonus per matched token of the --hotwords without a score of their own (default 1.5)",
    )
    p.add_argument(
        "--attention-scale",
        type=non_negative_float,
        default=1.0,
        help="rescoring methods: weight of the attention decoder's score (default 1.0)",
    )
    p.add_argument(
        "--max-symbols",
        type=positive_int,
        default=1,
        help="greedy_search, offline: tokens per encoder frame (default 1, as icefall)",
    )
    p.add_argument("--chunk", type=positive_int, help="causal models: chunk (50 Hz frames)")
    p.add_argument(
        "--left", type=non_negative_int, help="causal models: left context (50 Hz frames)"
    )
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument(
        "--compile",
        action="store_true",
        help="run the encoder through torch.compile (on a CPU it needs a C++ compiler): the "
        "first input waits while it compiles; with --streaming the chunk steps then take about "
        "half the time; offline on a CPU the encoder is slower than eager (it is meant for GPUs)",
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "transcribe",
        help="recognise audio files of any length",
        description="Recognise audio files of any length. A file longer than --max-segment "
        "seconds is read in blocks and cut into segments at its pauses, so memory stays "
        "bounded. Files that fail are reported and skipped; the exit code is then 4.",
    )
    _model_arguments(p)
    p.add_argument("audio", nargs="+", help="audio files (WAV, FLAC, OGG; any sample rate)")
    p.add_argument(
        "--json",
        action="store_true",
        help="JSON lines: per file, text, tokens, timestamps and segments (start, end, text, "
        "words)",
    )
    p.add_argument(
        "--streaming", action="store_true", help="chunk by chunk, showing partial results"
    )
    p.add_argument(
        "--bf16",
        action="store_true",
        help="with --streaming --compile on a CPU: the encoder layers' linear layers in "
        "bfloat16 (StreamingConfig(precision='bf16')): on CPUs with AMX or AVX-512 BF16, "
        "faster chunk steps after a longer compile, with outputs rounded accordingly; check "
        "the WER on your data",
    )
    p.add_argument(
        "--srt",
        metavar="OUT",
        help="write SubRip subtitles: a .srt file, or a folder (one <name>.srt per input) "
        "when several files are given",
    )
    p.add_argument("--vtt", metavar="OUT", help="write WebVTT subtitles (as --srt)")
    p.add_argument(
        "--max-segment",
        type=positive_float,
        default=SegmenterOptions.max_segment_s,
        metavar="SECONDS",
        help="files longer than this are cut at pauses into segments at most this long "
        f"(default {SegmenterOptions.max_segment_s:g})",
    )
    p.add_argument(
        "--threads",
        type=positive_int,
        help="CPU threads for torch (default: 1 when the inputs total under "
        f"{SHORT_INPUT_S:g} s, where more threads only wait on each other; else the free "
        f"cores (CPUs less the load average), 1 to {MAX_AUTO_THREADS})",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress line for long files (default: when standard error is a terminal)",
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

    return zipasr.load(args.model, tokens=args.tokens)


def _compile_note(args: argparse.Namespace) -> None:
    """With --compile, says on stderr that the first input waits (once the settings are
    known to be good, just before decoding starts)."""
    if not args.compile:
        return
    if getattr(args, "bf16", False):
        wait = "several minutes on a CPU, timing its kernels; cached on disk for later runs"
    elif getattr(args, "streaming", False):
        wait = "one to two minutes on a CPU; then the chunk steps take about half the time"
    else:
        wait = "minutes on a CPU, where the compiled encoder is slower than eager"
    print(f"zipasr: --compile: the encoder compiles on the first input ({wait})", file=sys.stderr)


@contextlib.contextmanager
def _compile_errors(args: argparse.Namespace) -> Iterator[None]:
    """Turns a failure of torch.compile (no C++ compiler, say) into a usage error."""
    if not args.compile:
        yield
        return
    import torch._dynamo.exc

    from zipasr.cli.errors import CliError

    try:
        yield
    except torch._dynamo.exc.TorchDynamoException as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CliError(
            f"--compile: torch.compile failed ({first}); on a CPU it needs a working C++ "
            "compiler (e.g. g++). Drop --compile to decode without it."
        ) from e


def _search_settings(args: argparse.Namespace, model) -> dict:  # model: AsrModel
    """The LM, LODR, hotword and blank-penalty settings of the command line, loaded."""
    from zipasr.cli.errors import CliError
    from zipasr.decoding import BIASABLE, NgramLm, load_hotwords
    from zipasr.recognize import text_encoder

    biased = [o for o in ("lm", "lodr", "hotwords") if getattr(args, o) is not None]
    if biased and args.method not in BIASABLE:
        flags = ", ".join(f"--{o}" for o in biased)
        verb = "needs" if len(biased) == 1 else "need"
        raise CliError(f"{flags} {verb} --method {' or '.join(BIASABLE)}, not {args.method}")
    if args.lodr is not None and args.lm is None:
        raise CliError("--lodr corrects an external LM: give --lm as well")
    if (args.lm or args.lodr) and model.tokens is None:
        raise CliError("the model has no token table; an LM's tokens cannot be matched to it")
    settings: dict = {"blank_penalty": args.blank_penalty}
    if args.lm is not None:
        settings.update(lm=NgramLm(args.lm, model.tokens), lm_scale=args.lm_scale)
    if args.lodr is not None:
        settings.update(lodr=NgramLm(args.lodr, model.tokens), lodr_scale=args.lodr_scale)
    if args.hotwords is not None:
        encode = text_encoder(model, args.model)
        settings["hotwords"] = load_hotwords(args.hotwords, encode, args.hotwords_score)
    return settings


def _options(args: argparse.Namespace, model):  # -> DecodeOptions
    from zipasr.recognize import DecodeOptions

    return DecodeOptions(
        method=args.method,
        beam=args.beam,
        chunk_frames=args.chunk,
        left_context_frames=args.left,
        batch_size=args.batch_size,
        max_symbols_per_frame=args.max_symbols,
        attention_scale=args.attention_scale,
        compile=args.compile,
        **_search_settings(args, model),
    )


#: Inputs shorter than this in total are decoded with one thread by default.
SHORT_INPUT_S = 60.0
#: Most threads the default picks for longer inputs.
MAX_AUTO_THREADS = 4
#: Methods a stream can be decoded with.
STREAMING_METHODS = tuple(METHODS)


def run_transcribe(args: argparse.Namespace) -> int:
    from zipasr.audio import AudioError, audio_info
    from zipasr.cli.errors import EXIT_OK, EXIT_PARTIAL, CliError, error
    from zipasr.longform import SegmenterOptions, Transcript
    from zipasr.recognize import file_error, transcribe_files, transcribe_streaming
    from zipasr.streaming import StreamingConfig, StreamingRecognizer

    if args.streaming and args.method not in STREAMING_METHODS:
        raise CliError(
            f"--streaming decodes with {' or '.join(STREAMING_METHODS)}, not {args.method}; "
            "drop --streaming to use it offline"
        )
    if args.bf16 and not (args.streaming and args.compile):
        raise CliError("--bf16 is for the compiled streaming step: add --streaming --compile")
    if args.threads is not None and args.threads < 1:
        raise CliError(f"--threads must be at least 1, got {args.threads}")
    try:
        segmenter = SegmenterOptions(max_segment_s=args.max_segment)
    except ValueError as e:
        raise CliError(f"--max-segment: {e}") from e
    if args.srt is not None and args.srt == args.vtt:
        raise CliError(f"--srt and --vtt both write {args.srt}: give them different paths")
    outputs = {fmt: _subtitle_paths(getattr(args, fmt), args.audio, fmt) for fmt in ("srt", "vtt")}
    total_s = 0.0
    for path in args.audio:
        try:
            total_s += audio_info(path).duration_s
        except AudioError:
            pass  # reported when its turn comes
    _set_threads(args.threads, total_s)
    model = _load(args)
    show_progress = sys.stderr.isatty() if args.progress is None else args.progress
    progress = _Progress(segmenter.max_segment_s) if show_progress else None
    on_progress = progress.update if progress is not None else None
    results: list[Transcript]
    if args.streaming:
        config = StreamingConfig(
            chunk_frames=args.chunk or 16,
            left_context_frames=args.left or 128,
            method=args.method,
            beam=args.beam,
            compile=args.compile,
            precision="bf16" if args.bf16 else "fp32",
            **_search_settings(args, model),
        )
        StreamingRecognizer(model, config)  # a model or chunking it cannot stream: say so now
        partial = sys.stderr.isatty() and not show_progress

        def show(text: str) -> None:
            print(f"\r{text}", end="", file=sys.stderr, flush=True)

        _compile_note(args)
        results = []
        for path in args.audio:
            try:
                with _compile_errors(args):
                    results.append(
                        transcribe_streaming(
                            model,
                            path,
                            config,
                            show if partial else None,
                            segmenter=segmenter,
                            on_progress=on_progress,
                        )
                    )
            except (AudioError, ValueError, OSError) as e:
                results.append(Transcript.failed(str(path), file_error(path, e)))
            if partial:
                print(file=sys.stderr)
    else:
        options = _options(args, model)
        _compile_note(args)
        with _compile_errors(args):
            results = transcribe_files(
                model, args.audio, options, segmenter=segmenter, on_progress=on_progress
            )
    failed = 0
    for result in results:
        if not result.ok:
            failed += 1
            error(result.error or result.path)
            if args.json:  # a JSON consumer learns which files failed, and why
                record = {"path": result.path, "error": result.error or "failed"}
                print(json.dumps(record, ensure_ascii=False))
            continue
        if args.json:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            print(f"{result.path}\t{result.text if result.text is not None else result.tokens}")
        _write_subtitles(result, outputs)
    return EXIT_PARTIAL if failed else EXIT_OK


def _subtitle_paths(out: str | None, audio: list[str], fmt: str) -> dict[str, Path]:
    """Where each input's subtitles go, checked before any decoding: one file for one input,
    a folder of <name>.<fmt> for several."""
    from zipasr.cli.errors import CliError

    if out is None:
        return {}
    target = Path(out)
    if len(audio) == 1:
        if target.is_dir():
            return {audio[0]: _checked_folder(target, fmt) / f"{Path(audio[0]).stem}.{fmt}"}
        folder = target.parent
        if not folder.is_dir():
            raise CliError(f"--{fmt} {out}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
            raise CliError(f"--{fmt} {out}: not writable")
        return {audio[0]: target}
    if target.exists() and not target.is_dir():
        raise CliError(f"--{fmt} {out}: with several audio files, give a folder")
    stems = [Path(a).stem for a in audio]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise CliError(f"--{fmt}: several inputs are named {twice[0]}; run them separately")
    if not target.exists():
        if not target.parent.is_dir() or not os.access(target.parent, os.W_OK):
            raise CliError(f"--{fmt} {out}: cannot create this folder")
        target.mkdir()
    folder = _checked_folder(target, fmt)
    return {a: folder / f"{s}.{fmt}" for a, s in zip(audio, stems)}


def _checked_folder(folder: Path, fmt: str) -> Path:
    from zipasr.cli.errors import CliError

    if not os.access(folder, os.W_OK):
        raise CliError(f"--{fmt} {folder}: folder not writable")
    return folder


def _write_subtitles(result, outputs: dict[str, dict[str, Path]]) -> None:
    from zipasr.cli.errors import warn
    from zipasr.longform import to_srt, to_vtt, write_text_atomically
    from zipasr.longform.subtitles import cues

    written = []
    for fmt, render in (("srt", to_srt), ("vtt", to_vtt)):
        target = outputs[fmt].get(result.path)
        if target is not None:
            write_text_atomically(target, render(result.segments))
            written.append(str(target))
    if written and not cues(result.segments):
        warn(f"{result.path}: no speech recognised; {' and '.join(written)} hold no subtitles")


def _set_threads(threads: int | None, total_s: float) -> None:
    """The default: one thread for short inputs, where torch's worker threads spin-wait between
    the many small ops of a short decode; for longer inputs, the cores the machine has free
    (its CPUs less the 1-minute load average), at least 1 and at most
    :data:`MAX_AUTO_THREADS`. On a busy machine, extra threads only wait for each other."""
    import torch

    if threads is None:
        threads = 1 if total_s < SHORT_INPUT_S else max(1, min(MAX_AUTO_THREADS, _free_cores()))
    torch.set_num_threads(threads)


def _free_cores() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        load = 0.0
    return (cores or 1) - round(load)


class _Progress:
    """One line on standard error per long file: position, duration and speed."""

    def __init__(self, min_duration_s: float) -> None:
        self.min_duration_s = min_duration_s
        self.started: dict[str, float] = {}

    def update(self, path: str, done_s: float, total_s: float) -> None:
        if total_s <= self.min_duration_s:
            return
        now = time.perf_counter()
        start = self.started.setdefault(path, now)
        speed = f", {done_s / (now - start):.1f}x real time" if now > start else ""
        line = (
            f"\r{path}: {_clock(done_s)} / {_clock(total_s)} ({100 * done_s / total_s:3.0f}%)"
            + speed
        )
        end = "\n" if done_s >= total_s else ""
        print(line, end=end, file=sys.stderr, flush=True)


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def run_decode(args: argparse.Namespace) -> int:
    from zipasr.recognize import check_out_dir, decode_manifest

    check_out_dir(args.out)  # a bad --out fails now, not after the decode
    model = _load(args)
    options = _options(args, model)
    _compile_note(args)
    with _compile_errors(args):
        report = decode_manifest(
            model,
            args.manifest,
            args.out,
            options,
            metric=args.metric,
            normalizer=args.normalizer,
            progress=sys.stderr.isatty(),
        )
    if report.skips is not None and report.skips.total:
        print(report.skips.summary(), file=sys.stderr)
    print(f"{report.stats}  (skipped {report.skipped}; details in {Path(args.out) / 'errs.txt'})")
    return 0
