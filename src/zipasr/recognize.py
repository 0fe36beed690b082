"""Recognising whole files and manifests: the library behind ``zipasr transcribe`` / ``decode``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from zipasr.audio import AudioError, fbank, pad_features, read_audio, to_mono_16k
from zipasr.decoding import DECODERS, RESCORERS, Hypothesis, ctc_greedy_search
from zipasr.frontend import FEATURE_FRAME_RATE, MIN_FEATURE_FRAMES, SAMPLE_RATE
from zipasr.metrics import WerStats, add, align
from zipasr.models.asr import AsrModel
from zipasr.streaming import StreamingConfig, StreamingRecognizer

if TYPE_CHECKING:
    from zipasr.data import SkipReport


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode.

    Attributes:
        method: "greedy_search", "modified_beam_search" (transducer), "ctc_greedy_search", or
            a rescoring method of a model with an attention decoder:
            "ctc_prefix_beam_search_attention_decoder_rescoring" (CTC head) or
            "modified_beam_search_attention_decoder_rescoring" (transducer head).
        beam: for modified beam search, and the n-best size of the rescoring methods.
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
    #: Rescoring methods: the weight of the attention decoder's score.
    attention_scale: float = 1.0

    def __post_init__(self) -> None:
        choices = [*DECODERS, "ctc_greedy_search", *RESCORERS]
        if self.method not in choices:
            raise ValueError(f"method={self.method!r}; choose one of {choices}")
        for name in ("beam", "batch_size", "max_symbols_per_frame"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1")
        if self.chunk_frames is not None and self.chunk_frames < 1:
            raise ValueError(f"chunk_frames={self.chunk_frames} must be at least 1 (or None)")
        if self.left_context_frames is not None and self.left_context_frames < 0:
            raise ValueError(
                f"left_context_frames={self.left_context_frames} must be at least 0 (or None)"
            )


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
    if options.method in RESCORERS:
        return RESCORERS[options.method](
            model, enc, lengths, beam=options.beam, attention_scale=options.attention_scale
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


def decode_manifest(
    model: AsrModel,
    manifest: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    options: DecodeOptions | None = None,
) -> DecodeReport:
    """Decodes every utterance of a manifest (JSONL, lhotse cuts, or a folder) and scores it.

    Writes ``recogs.txt`` (id, reference and hypothesis per utterance) and ``errs.txt``
    (per-utterance alignments with errors marked, then the totals) into ``out_dir``, as icefall's
    decode scripts do. References are normalised with :func:`zipasr.data.normalize_text`.
    """
    from zipasr.data import load_cuts, normalize_text

    if model.tokens is None:
        raise ValueError("the model has no token table; it is needed to score text")
    from zipasr.data import SkipReport

    report = SkipReport()
    cuts = list(load_cuts(Path(manifest), report))
    ids, refs, feats = [], [], []
    for cut, features in _cut_features(cuts, report):
        ids.append(cut.id)
        refs.append(normalize_text(cut.supervisions[0].text or ""))
        feats.append(features)
    hyps = decode_features(model, feats, options)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = WerStats()
    recogs, errs = [], []
    for utt, ref, hyp in zip(ids, refs, hyps):
        text = hyp.text or ""
        alignment = align(ref.split(), text.split())
        add(stats, alignment)
        recogs.append(f"{utt}:\tref={ref.split()}\n{utt}:\thyp={text.split()}\n")
        marked = " ".join(
            str(r) if r == h else f"({r or '*'}->{h or '*'})" for r, h in alignment.pairs
        )
        errs.append(f"{utt}:\t{marked}\n")
    (out / "recogs.txt").write_text("".join(recogs))
    (out / "errs.txt").write_text("".join(errs) + f"\n{stats}\n")
    texts = {utt: hyp.text or "" for utt, hyp in zip(ids, hyps)}
    return DecodeReport(stats, out / "recogs.txt", out / "errs.txt", report.total, texts)


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
