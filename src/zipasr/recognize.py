"""Recognising whole files and manifests: the library behind ``zipasr transcribe`` / ``decode``."""

from __future__ import annotations

import functools
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from zipasr.allocator import return_freed_memory
from zipasr.audio import (
    AudioError,
    audio_info,
    fbank,
    pad_features,
    read_audio,
    read_audio_blocks,
    to_mono_16k,
)
from zipasr.decoding import ContextGraph, Fusion, Hypothesis, LmScorer, SearchOptions, search
from zipasr.decoding.hypothesis import WORD_BOUNDARY
from zipasr.encoder import check_lengths
from zipasr.frontend import (
    FEATURE_FRAME_RATE,
    MIN_FEATURE_FRAMES,
    OUTPUT_FRAME_SHIFT_S,
    SAMPLE_RATE,
)
from zipasr.longform import (
    Segment,
    SegmenterOptions,
    Span,
    TimedTokens,
    Transcript,
    Vad,
    make_segment,
    merge_overlap,
    segment_audio,
    write_text_atomically,
)
from zipasr.metrics import ErrorCounts, WerStats, add, align
from zipasr.models.asr import AsrModel
from zipasr.streaming import StreamingConfig, StreamingRecognizer
from zipasr.text import METRICS, default_metric, metric_units, mixed_units
from zipasr.text import normalizer as normalizer_of

if TYPE_CHECKING:
    from zipasr.data import SkipReport


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode.

    Attributes:
        method: "greedy_search", "modified_beam_search" (transducer), "ctc_greedy_search",
            "ctc_prefix_beam_search" (CTC head), or a rescoring method of a model with an
            attention decoder: "ctc_prefix_beam_search_attention_decoder_rescoring" (CTC head)
            or "modified_beam_search_attention_decoder_rescoring" (transducer head).
        beam: for the beam searches, and the n-best size of the rescoring methods.
        chunk_frames, left_context_frames: causal models: decode with the simulated-streaming
            mask (50 Hz frames); None = full context.
        batch_size: utterances encoded together.
        max_symbols_per_frame: greedy search: tokens it may emit per 25 Hz encoder frame (1 as
            in icefall; 2 helps letter-sized vocabularies on fast speech).
        attention_scale: rescoring methods: the weight of the attention decoder's score.
        blank_penalty: subtracted from the blank's score in every search (> 0: more tokens).
        lm, lm_scale: shallow fusion with a token language model (e.g.
            :class:`zipasr.decoding.NgramLm`) in the beam searches; scale 0 = no LM.
        lodr, lodr_scale: LODR: a low-order LM whose score is subtracted (scale >= 0).
        hotwords: a :class:`zipasr.decoding.ContextGraph` of phrases to boost (beam searches).
        encode_alone: run the encoder on each utterance by itself (the searches are batched
            all the same). A padded batch changes the last encoder frames of its shorter
            utterances (the encoder's downsampling completes a last incomplete group with the
            batch's next frame, which is padding, and the front end's convolution sees the
            padding), so with False an utterance's text near its end can depend on the other
            utterances of its batch, as in icefall; sherpa-onnx decodes a file alone. On a CPU
            encoding alone costs no time (measured on the demo: 27 s batched by 8, 23-28 s
            alone); on a GPU, False is faster.
        compile: run the encoder through ``torch.compile`` with dynamic lengths (on CPU it
            needs a C++ compiler). The first utterance waits while it compiles (about 4
            minutes cold for Zipformer-S on a busy 2-core CPU; seconds from torch's on-disk
            cache); then one graph serves every input length from 2.6 s to 82 s, with one more
            below and one above. Each chunking and each batch size (``encode_alone=False``)
            compiles its own; torch keeps 8 compiled versions per process, then warns and
            runs the rest eagerly. Outputs agree with the eager encoder to about 1e-5. Offline
            on a CPU it is slower than eager, whose blockwise paths (attention weights, the
            front end's ConvNeXt) it does not take: Zipformer-S 0.387 s against 0.346
            for 1 x 30 s, 0.917 against 0.732 for 8 x 10 s (2026-12-07,
            ``benchmarks/encoder_speed.py --presets small --compile``). It is meant for GPUs
            (not yet measured). Off by default.
    """

    method: str = "greedy_search"
    beam: int = 4
    chunk_frames: int | None = None
    left_context_frames: int | None = None
    batch_size: int = 8
    max_symbols_per_frame: int = 1
    attention_scale: float = 1.0
    blank_penalty: float = 0.0
    lm: LmScorer | None = None
    lm_scale: float = 0.0
    lodr: LmScorer | None = None
    lodr_scale: float = 0.0
    hotwords: ContextGraph | None = None
    encode_alone: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        self.search_options  # noqa: B018 - checks the method, beam, LM and hotwords
        if self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size} must be at least 1")
        if self.chunk_frames is not None and self.chunk_frames < 1:
            raise ValueError(f"chunk_frames={self.chunk_frames} must be at least 1 (or None)")
        if self.left_context_frames is not None and self.left_context_frames < 0:
            raise ValueError(
                f"left_context_frames={self.left_context_frames} must be at least 0 (or None)"
            )

    @property
    def search_options(self) -> SearchOptions:
        """The search part of these options."""
        return SearchOptions(
            method=self.method,
            beam=self.beam,
            max_symbols_per_frame=self.max_symbols_per_frame,
            blank_penalty=self.blank_penalty,
            fusion=Fusion(self.lm, self.lm_scale, self.lodr, self.lodr_scale),
            context_graph=self.hotwords,
        )


def text_encoder(model: AsrModel, model_path: str | os.PathLike[str]) -> Callable[[str], list[int]]:
    """A function from text to the model's token ids, for hotwords and LM training text.

    A model directory's ``bpe.model`` (with its ``tokenizer.json``) is used when there is one
    (:class:`zipasr.data.Tokenizer`); otherwise the text is normalised with the model's
    normaliser and each word is cut greedily into the longest pieces of the token table (a
    word's first piece carries ``▁``; CJK characters are words of their own).

    Raises:
        ValueError: the model has no token table.
    """
    if model.tokens is None:
        raise ValueError("the model has no token table; it is needed to encode text")
    source = Path(model_path)
    folder = source if source.is_dir() else source.parent
    if (folder / "bpe.model").is_file():
        from zipasr.data.tokenizer import Tokenizer

        tokenizer = Tokenizer(folder / "bpe.model")
        return lambda text: tokenizer.encode([text])[0]
    table = {piece: i for i, piece in enumerate(model.tokens) if i > 2}
    longest = max(map(len, table), default=1)
    normalize = normalizer_of(model.normalizer)

    def encode(text: str) -> list[int]:
        ids: list[int] = []
        for word in mixed_units(normalize(text)):
            rest = WORD_BOUNDARY + word
            while rest:
                for size in range(min(longest, len(rest)), 0, -1):
                    if rest[:size] in table:
                        ids.append(table[rest[:size]])
                        rest = rest[size:]
                        break
                else:
                    if rest[0] != WORD_BOUNDARY:
                        raise ValueError(f"{text!r}: no token for {rest[0]!r} in the model's table")
                    rest = rest[1:]  # no "▁" piece of its own: start with the word's letters
        return ids

    return encode


@dataclass(frozen=True)
class LmSummary:
    """What :func:`train_lm` estimated: its order, the sentences and tokens it counted, the
    number of n-grams of each order (unigrams first), and the sentences it left out because the
    model's tokenizer gave them an ``<unk>``."""

    path: Path
    order: int
    sentences: int
    tokens: int
    ngrams: tuple[int, ...]
    skipped_unknown: int = 0

    def __str__(self) -> str:
        skipped = (
            f"; {self.skipped_unknown} sentences with <unk> left out"
            if self.skipped_unknown
            else ""
        )
        return (
            f"{self.path}: {self.order}-gram over {self.sentences} sentences ({self.tokens} "
            f"tokens); n-grams per order: {list(self.ngrams)}{skipped}"
        )


def train_lm(
    model_path: str | os.PathLike[str],
    text: Iterable[str],
    out: str | os.PathLike[str],
    order: int = 3,
    *,
    tokens: str | os.PathLike[str] | None = None,
) -> LmSummary:
    """Estimates an n-gram language model over a model's own tokens (interpolated Kneser-Ney,
    :func:`zipasr.decoding.estimate_ngram`) and writes it atomically to ``out`` as ARPA, for
    ``DecodeOptions(lm=NgramLm(out, model.tokens))`` or ``--lm``/``--lodr``.

    Args:
        model_path: a zipasr model directory or an icefall checkpoint; its tokenizer
            (:func:`text_encoder`) turns each sentence into tokens.
        text: sentences, one per item (blank items are skipped, and so are sentences with a
            character the tokenizer maps to ``<unk>``: they are counted in the summary).
        order: n, at least 1.
        tokens: tokens.txt, for an icefall checkpoint without one beside it.

    Raises:
        ValueError: no sentence has a token, or a token holds white space (not an ARPA word).
    """
    from zipasr.decoding.lm import estimate_ngram, write_arpa
    from zipasr.loading import load

    if isinstance(text, str):
        raise TypeError("text: pass the sentences as a list of strings, not one string")
    model = load(model_path, tokens=tokens)
    encode = text_encoder(model, model_path)
    table = model.tokens
    assert table is not None  # text_encoder checked it
    sentences, unknown = [], 0
    for line in text:
        ids = encode(line) if line.strip() else []
        if any(i <= 2 for i in ids):  # <unk> (or a special id): no n-gram of the model's tokens
            unknown += 1
        elif ids:
            sentences.append([table[i] for i in ids])
    if not sentences:
        raise ValueError(
            "the text has no sentences"
            + (f" the model's tokens can spell ({unknown} have <unk>)" if unknown else "")
        )
    bad = sorted({p for s in sentences for p in s if not p or any(c.isspace() for c in p)})
    if bad:
        raise ValueError(f"tokens {bad[:3]} contain white space and cannot be ARPA words")
    vocabulary = [p for i, p in enumerate(table) if i > 2 and not any(c.isspace() for c in p)]
    entries = estimate_ngram(sentences, order, vocabulary)
    path = write_arpa(entries, out)
    counts = tuple(sum(1 for w in entries if len(w) == n) for n in range(1, order + 1))
    return LmSummary(path, order, len(sentences), sum(len(s) for s in sentences), counts, unknown)


def features_of_file(path: str | os.PathLike[str]) -> Tensor:
    """(T, 80) fbank of a whole audio file (any format soundfile reads; resampled, mixed down).

    For recordings longer than a few tens of seconds use :func:`transcribe_files`, which cuts
    them into segments instead of holding all their features at once.
    """
    samples, rate = read_audio(Path(path))
    check_long_enough(path, samples.shape[-1], rate)  # before fbank, which has its own message
    feats = fbank(samples, rate)
    if feats.shape[0] < MIN_FEATURE_FRAMES:  # resampling rounded the length down
        check_long_enough(path, samples.shape[-1], rate, frames=feats.shape[0])
    return feats


def check_long_enough(
    path: str | os.PathLike[str], samples: int, rate: int, *, frames: int | None = None
) -> None:
    """Raises ValueError (naming ``path``, its length and the minimum) if ``samples`` at
    ``rate`` Hz are too few for the front end to emit one encoder frame: it needs 9 feature
    frames, which are centred on multiples of 10 ms, so 85 ms of audio. ``frames``: the
    feature frames actually computed, where already known."""
    # Integers: 85 ms of 48 kHz audio (4080 samples) is long enough.
    short = 2 * samples * FEATURE_FRAME_RATE < (2 * MIN_FEATURE_FRAMES - 1) * rate
    if short or (frames is not None and frames < MIN_FEATURE_FRAMES):
        shortest_ms = 1000 * (MIN_FEATURE_FRAMES - 0.5) / FEATURE_FRAME_RATE
        raise ValueError(
            f"{path}: {math.floor(1000 * samples / rate)} ms of audio is shorter than the "
            f"model can use ({shortest_ms:.0f} ms)"
        )


@torch.no_grad()
def decode_features(
    model: AsrModel, features: Sequence[Tensor], options: DecodeOptions | None = None
) -> list[Hypothesis]:
    """Decodes utterances given as (T_i, 80) feature tensors, in batches.

    With ``options.encode_alone`` (the default) each utterance goes through the encoder by
    itself and only the searches are batched, so that an utterance's result does not depend
    on the others of its batch (see :class:`DecodeOptions`).
    """
    options = options or DecodeOptions()
    search_options = options.search_options
    device = next(model.parameters()).device
    hyps: list[Hypothesis] = []
    for start in range(0, len(features), options.batch_size):
        group = features[start : start + options.batch_size]
        batch, lengths = pad_features(group)  # checks the lengths, on the CPU
        lengths = lengths.to(device)
        if options.encode_alone and len(group) > 1:
            outs = [
                _encode(model, f.unsqueeze(0).to(device), options, lengths[i : i + 1])
                for i, f in enumerate(group)
            ]
            enc_lens = torch.cat([n for _, n in outs])
            enc = torch.zeros(len(group), int(enc_lens.max()), outs[0][0].shape[2], device=device)
            for i, (out, n) in enumerate(outs):
                enc[i, : int(n)] = out[0]
        else:
            enc, enc_lens = _encode(model, batch.to(device), options, lengths)
        hyps += search(
            model, enc, enc_lens, search_options, attention_scale=options.attention_scale
        )
    return hyps


@torch.no_grad()
def encode_features(
    model: AsrModel, features: Tensor, options: DecodeOptions, lengths: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The encoder step of :func:`decode_features`, without gradients: (B, T, 80) fbank and
    (B,) lengths (None: every utterance is T frames long) -> (B, T', C) at 25 Hz and (B,)
    lengths, with the chunking of ``options`` and, with ``options.compile``, through the
    compiled encoder. Raises ValueError on lengths the encoder cannot take."""
    if lengths is None:
        lengths = torch.full((features.shape[0],), features.shape[1], device=features.device)
    check_lengths(lengths, features.shape[1])
    return _encode(model, features, options, lengths)


def _encode(
    model: AsrModel, features: Tensor, options: DecodeOptions, lengths: Tensor
) -> tuple[Tensor, Tensor]:
    """:func:`encode_features` without its length check, for :func:`decode_features`, whose
    ``pad_features`` made the one check (a device sync) already."""
    encode = _encode_with
    if options.compile:
        encode = _compiled_encoder()
        # The batch size stays a constant of the graph: a new one compiles again. (A symbolic
        # batch size made inductor fail on Zipformer-S with torch 2.13.) Marked on aliases,
        # so that the caller's tensors keep no mark.
        features, lengths = features.view_as(features), lengths.view_as(lengths)
        torch._dynamo.mark_static(features, 0)
        torch._dynamo.mark_static(lengths, 0)
    return encode(model, features, lengths, options.chunk_frames, options.left_context_frames)


def _encode_with(
    model: AsrModel,
    features: Tensor,
    lengths: Tensor,
    chunk_frames: int | None,
    left_context_frames: int | None,
) -> tuple[Tensor, Tensor]:
    return model.encode(
        features, lengths, chunk_frames=chunk_frames, left_context_frames=left_context_frames
    )


#: The torch.compile backend of the compiled encoder (tests trace with a counting one).
_COMPILE_BACKEND: Any = "inductor"


@functools.cache
def _compiled_encoder() -> Callable[..., tuple[Tensor, Tensor]]:
    """``torch.compile`` of :func:`_encode_with`, shared by every :class:`DecodeOptions` with
    ``compile=True`` (models of one architecture share its graphs). Input lengths are
    symbolic: one graph serves every length from 2.6 s to 82 s (inductor compiles once more
    below and above: measured with torch 2.13 on CPU)."""
    return torch.compile(_encode_with, dynamic=True, backend=_COMPILE_BACKEND)


#: Called as ``on_progress(path, seconds_done, seconds_total)`` while a file is recognised.
ProgressCallback = Callable[[str, float, float], None]


def transcribe_files(
    model: AsrModel,
    paths: Sequence[str | os.PathLike[str]],
    options: DecodeOptions | None = None,
    *,
    segmenter: SegmenterOptions | None = None,
    vad: Callable[[], Vad] | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[Transcript]:
    """Offline recognition of audio files of any length; one :class:`Transcript` per file.

    A file no longer than ``segmenter.max_segment_s`` is decoded whole, as one segment. A longer
    one is read in blocks and cut at its pauses (:class:`zipasr.longform.Segmenter`); its
    segments are decoded in length-sorted batches, so memory depends on the segment length,
    not on the file's. Token and word times count from the start of the file.

    A file that cannot be recognised (missing, unreadable, empty, too short) does not stop the
    others: its transcript has ``error`` set, naming the file, and no tokens.

    Args:
        model: any model, offline or causal (``options.chunk_frames`` decodes a causal one as
            it would stream).
        paths: audio files soundfile reads, any sample rate and channel count.
        options: the search, batch size and chunking.
        segmenter: how long files are cut (the longest segment, pauses, window overlap).
        vad: makes the voice-activity detector for each long file (default
            :class:`zipasr.longform.EnergyVad`).
        on_progress: called with (path, seconds decoded, seconds in the file) as a long file
            is decoded.
    """
    options = options or DecodeOptions()
    seg_options = segmenter or SegmenterOptions()
    pool = _SegmentPool(model, options)
    spans: dict[int, list[Span]] = {}  # the segments of each file read so far
    durations: dict[int, float] = {}
    results: list[Transcript | None] = [None] * len(paths)
    for k, path in enumerate(paths):
        try:
            info = audio_info(path)
            durations[k] = info.duration_s
            if info.duration_s <= seg_options.max_segment_s:  # decoded whole, as before
                pool.add((k, 0), features_of_file(path))
                spans[k] = [Span(0, 0.0, info.duration_s)]
                continue
            spans[k] = []
            if on_progress is not None:
                on_progress(str(path), 0.0, info.duration_s)
            for seg in segment_audio(read_audio_blocks(path), seg_options, vad() if vad else None):
                feats = fbank(seg.samples, SAMPLE_RATE)
                if feats.shape[0] >= MIN_FEATURE_FRAMES:  # (shorter: a click, not a word)
                    spans[k].append(seg.span)
                    flushed = pool.add((k, seg.index), feats)
                    if flushed and on_progress is not None:  # all audio up to here is done
                        on_progress(str(path), seg.end_s, info.duration_s)
            pool.finish()
            if on_progress is not None:
                on_progress(str(path), info.duration_s, info.duration_s)
        except (AudioError, ValueError, OSError) as error:
            results[k] = Transcript.failed(str(path), file_error(path, error))
            pool.discard(k)
            spans.pop(k, None)
    hyps = pool.finish()
    for k, file_spans in spans.items():
        decoded = [(span, hyps[(k, span.index)]) for span in file_spans]
        results[k] = _assemble(str(paths[k]), durations[k], decoded, model.tokens)
    return [r for r in results if r is not None]


#: Padded seconds of audio in one batch of segments of a long file. The encoder's front end
#: holds (batch, channels, frames, 80) activations, so memory grows with this; measured with the
#: demo model (Zipformer, 6 stacks of 1 layer): a batch of 8 segments of 5 s (40 s padded)
#: raised the peak resident memory by 0.3 GB.
MAX_BATCH_AUDIO_S = 60.0


class _SegmentPool:
    """Features waiting to be decoded. They are decoded in batches of similar length (at most
    ``options.batch_size`` segments and :data:`MAX_BATCH_AUDIO_S` seconds, padding included)
    once the pool holds ``POOL_BATCHES`` batches, so a file's segments are not all held at
    once."""

    POOL_BATCHES = 4

    def __init__(self, model: AsrModel, options: DecodeOptions) -> None:
        self.model, self.options = model, options
        self.pending: dict[tuple[int, int], Tensor] = {}
        self.done: dict[tuple[int, int], Hypothesis] = {}

    def add(self, key: tuple[int, int], features: Tensor) -> bool:
        """Adds a segment's features; True if the pool was full and has been decoded."""
        self.pending[key] = features
        if len(self.pending) >= self.POOL_BATCHES * self.options.batch_size:
            self._decode()
            return True
        return False

    def discard(self, file_index: int) -> None:
        for key in [key for key in self.pending if key[0] == file_index]:
            del self.pending[key]

    def finish(self) -> dict[tuple[int, int], Hypothesis]:
        self._decode()
        return self.done

    def _decode(self) -> None:
        keys = sorted(self.pending, key=lambda key: self.pending[key].shape[0], reverse=True)
        budget = MAX_BATCH_AUDIO_S * FEATURE_FRAME_RATE
        while keys:
            longest = self.pending[keys[0]].shape[0]  # the batch is padded to this
            size = max(1, min(self.options.batch_size, int(budget // longest), len(keys)))
            group, keys = keys[:size], keys[size:]
            hyps = decode_features(self.model, [self.pending[k] for k in group], self.options)
            self.done.update(zip(group, hyps))
        self.pending.clear()
        # Batches of different shapes fragment the heap: without this, the resident memory of
        # a 60-minute decode grew by 7 MB a minute (peak 1.01 GB); with it, 0.6 MB (0.75 GB).
        return_freed_memory()


def _assemble(
    path: str,
    duration_s: float,
    decoded: list[tuple[Span, Hypothesis]],
    table: list[str] | None,
) -> Transcript:
    """Absolute times, overlapping windows merged, segments with words."""
    runs: list[list[tuple[Span, TimedTokens]]] = []
    for seg, hyp in decoded:
        lps = list(hyp.token_log_probs) if len(hyp.token_log_probs) == len(hyp.tokens) else None
        timed = TimedTokens(
            list(hyp.tokens), [seg.start_s + f * OUTPUT_FRAME_SHIFT_S for f in hyp.frames], lps
        )
        if seg.overlaps_previous and runs:
            runs[-1].append((seg, timed))
        else:
            runs.append([(seg, timed)])
    segments: list[Segment] = []
    for run in runs:
        segments += _merge_run(run, table)
    return Transcript.from_segments(path, duration_s, segments, table)


def _merge_run(run: list[tuple[Span, TimedTokens]], table: list[str] | None) -> list[Segment]:
    """One segment per window of a run of overlapping windows, split where they were merged."""
    merged = run[0][1]
    bounds = [run[0][0].start_s]  # where each window's segment starts
    cuts = []  # tokens of `merged` up to each splice
    for (prev, _), (seg, timed) in zip(run, run[1:]):
        merged, splice = merge_overlap(merged, timed, seg.start_s, prev.end_s)
        cut = next(
            (i for i in range(len(merged.times)) if merged.times[i] > splice), len(merged.tokens)
        )
        if table is not None:  # do not split a word between two segments
            while cut < len(merged.tokens) and not table[merged.tokens[cut]].startswith(
                WORD_BOUNDARY
            ):
                cut += 1
        cuts.append(cut)
        boundary = splice + OUTPUT_FRAME_SHIFT_S
        if cut < len(merged.times):
            boundary = min(
                max(boundary, merged.times[cut - 1] if cut else splice), merged.times[cut]
            )
        bounds.append(boundary)
    ends = bounds[1:] + [run[-1][0].end_s]
    edges = [0, *cuts, len(merged.tokens)]
    return [
        make_segment(
            start,
            end,
            merged.tokens[a:b],
            merged.times[a:b],
            table,
            merged.log_probs[a:b] if merged.log_probs is not None else None,
        )
        for start, end, a, b in zip(bounds, ends, edges, edges[1:])
    ]


def file_error(path: str | os.PathLike[str], error: BaseException) -> str:
    """``<file>: <why>`` for an error met while recognising ``path``."""
    text, name = str(error), str(path)
    if isinstance(error, OSError) and error.strerror and not text.startswith(name):
        text = error.strerror
    if text.startswith(name):  # the message names the file already
        return text
    return f"{name}: {text.replace(f' {name}', '').strip()}"


def transcribe_streaming(
    model: AsrModel,
    path: str | os.PathLike[str],
    config: StreamingConfig | None = None,
    on_partial: Callable[[str], None] | None = None,
    piece_s: float = 0.1,
    *,
    segmenter: SegmenterOptions | None = None,
    vad: Callable[[], Vad] | None = None,
    on_progress: ProgressCallback | None = None,
) -> Transcript:
    """Streams a file through :class:`zipasr.streaming.StreamingRecognizer` in ``piece_s``
    pieces, calling ``on_partial(text)`` whenever the text of the current segment changes.

    A file no longer than ``segmenter.max_segment_s`` is one stream. A longer one is read in
    blocks and cut at its pauses as :func:`transcribe_files` cuts it; each segment is a new
    stream (as a live recogniser starts anew after an endpoint). Unlike
    :func:`transcribe_files`, a file that cannot be read or is too short (85 ms) raises, with
    its name.
    """
    recognizer = StreamingRecognizer(model, config)
    seg_options = segmenter or SegmenterOptions()
    info = audio_info(path)
    if info.duration_s <= seg_options.max_segment_s:
        samples, rate = read_audio(Path(path))
        check_long_enough(path, samples.shape[-1], rate)  # as transcribe_files would say
        audio = to_mono_16k(samples, rate)
        hyp = _stream_one(recognizer, audio, on_partial, piece_s)
        whole = Span(0, 0.0, info.duration_s)
        return _assemble(str(path), info.duration_s, [(whole, hyp)], model.tokens)
    decoded = []
    if on_progress is not None:
        on_progress(str(path), 0.0, info.duration_s)
    for seg in segment_audio(read_audio_blocks(path), seg_options, vad() if vad else None):
        decoded.append((seg.span, _stream_one(recognizer, seg.samples, on_partial, piece_s)))
        if on_progress is not None:
            on_progress(str(path), seg.end_s, info.duration_s)
    if on_progress is not None:
        on_progress(str(path), info.duration_s, info.duration_s)
    return _assemble(str(path), info.duration_s, decoded, model.tokens)


def _stream_one(
    recognizer: StreamingRecognizer,
    audio: Tensor,
    on_partial: Callable[[str], None] | None,
    piece_s: float,
) -> Hypothesis:
    """Streams 16 kHz ``audio`` through a new stream; its hypothesis (frames from its start)."""
    stream = recognizer.create_stream()
    stream.warn_out_of_range = False  # the file reader has warned, once per file
    step = max(1, int(piece_s * SAMPLE_RATE))
    last = ""
    has_tokens = recognizer.model.tokens is not None
    for start in range(0, audio.shape[0] + step, step):
        if start < audio.shape[0]:
            stream.accept_waveform(audio[start : start + step])
        else:
            stream.input_finished()
        while recognizer.step([stream]):
            if on_partial is not None and has_tokens:
                text = recognizer.text(stream)
                if text != last:
                    on_partial(text)
                    last = text
    return stream.result


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
    write_text_atomically(out / "recogs.txt", "".join(recogs))
    write_text_atomically(out / "errs.txt", "".join(errs) + f"\n{stats}\n\n" + counts.report())
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
