"""Recognising whole files and manifests: the library behind ``zipasr transcribe`` / ``decode``."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from zipasr.audio import AudioError, fbank, pad_features, read_audio, to_mono_16k
from zipasr.decoding import DECODERS, Hypothesis, ctc_greedy_search
from zipasr.frontend import FEATURE_FRAME_RATE, MIN_FEATURE_FRAMES, SAMPLE_RATE
from zipasr.metrics import ErrorCounts, WerStats, add, align
from zipasr.models.asr import AsrModel
from zipasr.streaming import StreamingConfig, StreamingRecognizer
from zipasr.text import METRICS, default_metric, metric_units
from zipasr.text import normalizer as normalizer_of

if TYPE_CHECKING:
    from zipasr.data import SkipReport


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode.

    Attributes:
        method: "greedy_search", "modified_beam_search" (transducer) or "ctc_greedy_search".
        beam: for modified beam search.
        chunk_frames, left_context_frames: causal models: decode with the simulated-streaming
            mask (50 Hz frames); None = full context.
        batch_size: utterances encoded together.
        max_symbols_per_frame: greedy search: tokens it may emit per 25 Hz encoder frame (1 as
            in icefall; 2 helps letter-sized vocabularies on fast speech).
    """

    method: str = "greedy_search"
    beam: int = 4
    chunk_frames: int | None = None
    left_context_frames: int | None = None
    batch_size: int = 8
    max_symbols_per_frame: int = 1

    def __post_init__(self) -> None:
        choices = [*DECODERS, "ctc_greedy_search"]
        if self.method not in choices:
            raise ValueError(f"method={self.method!r}; choose one of {choices}")
        if self.max_symbols_per_frame < 1:
            raise ValueError(f"max_symbols_per_frame={self.max_symbols_per_frame} must be >= 1")


def features_of_file(path: str | os.PathLike[str]) -> Tensor:
    """(T, 80) fbank of an audio file (any format soundfile reads; resampled, mixed down)."""
    samples, rate = read_audio(Path(path))
    feats = fbank(samples, rate)
    if feats.shape[0] < MIN_FEATURE_FRAMES:
        ms = 1000 // FEATURE_FRAME_RATE
        raise ValueError(
            f"{path}: {feats.shape[0] * ms} ms of audio is shorter than the model can use "
            f"({MIN_FEATURE_FRAMES * ms} ms)"
        )
    return feats


@torch.no_grad()
def decode_features(
    model: AsrModel, features: Sequence[Tensor], options: DecodeOptions | None = None
) -> list[Hypothesis]:
    """Decodes utterances given as (T_i, 80) feature tensors, in batches."""
    options = options or DecodeOptions()
    device = next(model.parameters()).device
    hyps: list[Hypothesis] = []
    for start in range(0, len(features), options.batch_size):
        group = features[start : start + options.batch_size]
        batch, lengths = pad_features(group)  # checks the lengths, on the CPU
        enc, enc_lens = model.encode(
            batch.to(device),
            lengths.to(device),
            chunk_frames=options.chunk_frames,
            left_context_frames=options.left_context_frames,
        )
        hyps += _search(model, enc, enc_lens, options)
    return hyps


def _search(
    model: AsrModel, enc: Tensor, lengths: Tensor, options: DecodeOptions
) -> list[Hypothesis]:
    if options.method == "ctc_greedy_search":
        return ctc_greedy_search(
            model.ctc_log_probs(enc), lengths, blank=model.blank_id, tokens=model.tokens
        )
    if options.method == "modified_beam_search":
        return DECODERS[options.method](model, enc, lengths, beam=options.beam)
    return DECODERS[options.method](
        model, enc, lengths, max_symbols_per_frame=options.max_symbols_per_frame
    )


def transcribe_files(
    model: AsrModel, paths: Sequence[str | os.PathLike[str]], options: DecodeOptions | None = None
) -> list[Hypothesis]:
    """Offline recognition of audio files; one hypothesis per file (text when the model has
    tokens). Unreadable or too-short files raise with the file's name."""
    return decode_features(model, [features_of_file(p) for p in paths], options)


def transcribe_streaming(
    model: AsrModel,
    path: str | os.PathLike[str],
    config: StreamingConfig | None = None,
    on_partial: Callable[[str], None] | None = None,
    piece_s: float = 0.1,
) -> Hypothesis:
    """Streams a file through :class:`zipasr.streaming.StreamingRecognizer` in ``piece_s``
    pieces, calling ``on_partial(text)`` whenever the text changes."""
    recognizer = StreamingRecognizer(model, config)
    samples, rate = read_audio(Path(path))
    audio = to_mono_16k(samples, rate)
    stream = recognizer.create_stream()
    step = max(1, int(piece_s * SAMPLE_RATE))
    last = ""
    for start in range(0, audio.shape[0] + step, step):
        if start < audio.shape[0]:
            stream.accept_waveform(audio[start : start + step])
        else:
            stream.input_finished()
        while recognizer.step([stream]):
            if on_partial is not None and model.tokens is not None:
                text = recognizer.text(stream)
                if text != last:
                    on_partial(text)
                    last = text
    result = stream.result
    if model.tokens is not None:
        result.text = recognizer.text(stream)
    return result


@dataclass
class DecodeReport:
    """What :func:`decode_manifest` measured and wrote."""

    stats: WerStats
    recognitions: Path
    errors: Path
    skipped: int
    #: Utterance id -> recognised text.
    texts: dict[str, str] = field(default_factory=dict)
    #: The skipped utterances by reason (unreadable audio, too short, empty reference text).
    skips: SkipReport | None = None


def check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Creates ``out_dir`` if needed and checks that files can be written in it, so that a bad
    output folder is reported before a long decode rather than after.

    Raises:
        OSError: with a message naming ``out_dir`` (it is a file, lies under a file, or is not
            writable).
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OSError(f"output folder {out} is a file; pass a folder path to --out") from None
    except NotADirectoryError:
        raise OSError(
            f"output folder {out} lies under a regular file; pass a folder path to --out"
        ) from None
    except OSError as error:
        raise OSError(f"cannot create the output folder {out}: {error.strerror}") from None
    if not out.is_dir():
        raise OSError(f"output folder {out} is not a folder; pass a folder path to --out")
    try:
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as error:
        raise OSError(f"cannot write in the output folder {out}: {error.strerror}") from None
    return out


def decode_manifest(
    model: AsrModel,
    manifest: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    options: DecodeOptions | None = None,
    *,
    metric: str | None = None,
    normalizer: str | None = None,
    progress: bool = False,
) -> DecodeReport:
    """Decodes every utterance of a manifest (JSONL, lhotse cuts, or a folder) and scores it.

    Writes ``recogs.txt`` (id, reference and hypothesis per utterance, in the metric's units)
    and ``errs.txt`` (per-utterance alignments with errors marked, the totals, then the most
    frequent substitutions, deletions and insertions) into ``out_dir``, as icefall's decode
    scripts do. ``out_dir`` is checked for writing before decoding starts.

    Args:
        metric: ``"wer"``, ``"cer"`` or ``"mer"`` (:func:`zipasr.metrics.error_rate`); None
            takes the model's (:func:`zipasr.text.default_metric` of its token table).
        normalizer: how references are normalised before scoring; None takes the model's
            (``model.normalizer``, the one it was trained with). An utterance whose normalised
            reference is empty is skipped (reason ``empty_text``), not scored.
        progress: show a tqdm bar (when tqdm is installed).
    """
    from zipasr.data import Skip, SkipReason, SkipReport, load_cuts

    if model.tokens is None:
        raise ValueError("the model has no token table; it is needed to score text")
    metric = metric or default_metric(model.tokens)
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r}; choose one of {list(METRICS)}")
    normalize = normalizer_of(normalizer or model.normalizer)
    options = options or DecodeOptions()
    out = check_out_dir(out_dir)

    report = SkipReport()
    cuts = []
    for cut in load_cuts(Path(manifest), report):
        text = " ".join(s.text or "" for s in cut.supervisions)
        if not normalize(text).strip():
            detail = f"reference {text!r} is empty after normalisation"
            report.add(Skip(cut.id, SkipReason.EMPTY_TEXT, detail))
            continue
        cuts.append(cut)
    bar = _progress_bar(len(cuts), progress)
    ids: list[str] = []
    refs: list[str] = []
    hyps: list[Hypothesis] = []
    for start in range(0, len(cuts), options.batch_size):
        group = cuts[start : start + options.batch_size]
        feats = []
        for cut, features in _cut_features(group, report):
            ids.append(cut.id)
            refs.append(normalize(" ".join(s.text or "" for s in cut.supervisions)))
            feats.append(features)
        hyps += decode_features(model, feats, options)
        if bar is not None:
            bar.update(len(group))
    if bar is not None:
        bar.close()

    stats = WerStats(metric=metric)
    counts = ErrorCounts()
    recogs, errs = [], []
    for utt, ref, hyp in zip(ids, refs, hyps):
        text = hyp.text or ""
        ref_units, hyp_units = metric_units(ref, metric), metric_units(text, metric)
        alignment = align(ref_units, hyp_units)
        add(stats, alignment)
        counts.add(alignment)
        recogs.append(f"{utt}:\tref={ref_units}\n{utt}:\thyp={hyp_units}\n")
        marked = " ".join(
            str(r) if r == h else f"({r or '*'}->{h or '*'})" for r, h in alignment.pairs
        )
        errs.append(f"{utt}:\t{marked}\n")
    _write_text(out / "recogs.txt", "".join(recogs))
    _write_text(out / "errs.txt", "".join(errs) + f"\n{stats}\n\n" + counts.report())
    texts = {utt: hyp.text or "" for utt, hyp in zip(ids, hyps)}
    return DecodeReport(
        stats, out / "recogs.txt", out / "errs.txt", report.total, texts, skips=report
    )


def _progress_bar(total: int, enabled: bool):  # -> tqdm | None
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="utt", desc="decoding", leave=False)


def _write_text(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` atomically (a temporary file renamed into place)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _cut_features(cuts: list, report: SkipReport) -> Iterator[tuple[Any, Tensor]]:
    """Each cut's features; unreadable and too-short cuts are counted in ``report``."""
    from zipasr.data import Skip, SkipReason
    from zipasr.data.features import load_cut_audio

    for cut in cuts:
        try:
            feats = fbank(load_cut_audio(cut), SAMPLE_RATE)
        except (AudioError, ValueError) as error:
            report.add(Skip(cut.id, SkipReason.UNREADABLE_AUDIO, str(error)))
            continue
        if feats.shape[0] < MIN_FEATURE_FRAMES:
            report.add(Skip(cut.id, SkipReason.TOO_SHORT, f"{feats.shape[0]} frames"))
            continue
        yield cut, feats
