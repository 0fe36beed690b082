"""StreamingRecognizer: many streams, one chunk at a time, batched."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from zipasr.audio import FbankOptions
from zipasr.decoding import methods as search
from zipasr.decoding.beam import BeamState
from zipasr.decoding.context import ContextGraph
from zipasr.decoding.ctc import CtcBeamState
from zipasr.decoding.fusion import Fusion
from zipasr.decoding.hypothesis import tokens_to_text
from zipasr.decoding.lm import LmScorer
from zipasr.encoder.state import EncoderState
from zipasr.models.asr import AsrModel
from zipasr.streaming.compiled import ChunkStep, check_precision, compile_chunk_step
from zipasr.streaming.stream import Stream


@dataclass(frozen=True)
class EndpointRule:
    """An endpoint is detected when a rule's three conditions hold (sherpa-onnx's rules).

    Attributes:
        must_contain_nonsilence: the segment must have emitted a token.
        min_trailing_silence_s: seconds since the segment's last token (or its start).
        min_utterance_length_s: seconds of audio in the segment.
    """

    must_contain_nonsilence: bool
    min_trailing_silence_s: float
    min_utterance_length_s: float


#: sherpa-onnx's defaults: 2.4 s of silence with nothing said; 1.2 s of silence after speech;
#: a segment 20 s long.
DEFAULT_ENDPOINT_RULES = (
    EndpointRule(False, 2.4, 0.0),
    EndpointRule(True, 1.2, 0.0),
    EndpointRule(False, 0.0, 20.0),
)


@dataclass(frozen=True)
class StreamingConfig:
    """How a causal model is run as it streams.

    Attributes:
        chunk_frames: 50 Hz frames per chunk (16 = 320 ms of new audio per step).
        left_context_frames: 50 Hz frames of past each chunk attends to.
        method: "greedy_search", "modified_beam_search" (transducer), "ctc_greedy_search" or
            "ctc_prefix_beam_search" (CTC head; a CTC-only model streams too).
        beam: for the beam searches.
        endpoint_rules: when :meth:`StreamingRecognizer.is_endpoint` says a segment has ended
            (any rule; see :class:`EndpointRule`); () disables endpointing.
        blank_penalty: subtracted from the blank's score (> 0: more tokens).
        lm, lm_scale, lodr, lodr_scale: language-model fusion in the beam searches (see
            :class:`zipasr.recognize.DecodeOptions`).
        hotwords: phrases boosted in every stream (the beam searches); a stream may have its
            own (:meth:`StreamingRecognizer.create_stream`).
        compile: run the encoder's chunk step through ``torch.compile``. On CPU it needs a C++
            compiler, and the model's weights are folded into the compiled code (see
            :mod:`zipasr.streaming.compiled`; if they change or are replaced, the next step
            warns and compiles again). The first chunks wait while it compiles (one to two minutes
            for Zipformer-S on 2 cores, and again once when the number of streams
            or torch's thread count first changes); then the encoder step takes about half the time
            (``benchmarks/decode_speed.py --compile``). Outputs agree with the eager step to
            about 1e-5. For long-running servers; off by default.
        precision: of the compiled step on a CPU: "fp32", or "bf16" for the encoder layers'
            linear layers in bfloat16 (weights, inputs and outputs; sums, biases and all else
            in float32; see :mod:`zipasr.streaming.bf16`). Needs ``compile``. Zipformer-S, one
            stream, one thread: the chunk steps take about 60% of the float32 ones' time on
            a CPU with AMX (``benchmarks/decode_speed.py --compile --bf16``), after a longer
            compile (inductor times its GEMM kernels for every matrix shape: minutes, cached
            on disk for the next process). Its outputs differ from float32's by bfloat16's
            rounding: check the word error rate on your data before you rely on it.
    """

    chunk_frames: int = 16
    left_context_frames: int = 128
    method: str = "greedy_search"
    beam: int = 4
    endpoint_rules: tuple[EndpointRule, ...] = DEFAULT_ENDPOINT_RULES
    blank_penalty: float = 0.0
    lm: LmScorer | None = None
    lm_scale: float = 0.0
    lodr: LmScorer | None = None
    lodr_scale: float = 0.0
    hotwords: ContextGraph | None = None
    compile: bool = False
    precision: str = "fp32"

    @property
    def search_options(self) -> search.SearchOptions:
        if self.method not in search.METHODS:
            raise ValueError(
                f"method={self.method!r}; a stream decodes with {list(search.METHODS)}"
            )
        return search.SearchOptions(
            method=self.method,
            beam=self.beam,
            blank_penalty=self.blank_penalty,
            fusion=Fusion(self.lm, self.lm_scale, self.lodr, self.lodr_scale),
            context_graph=self.hotwords,
        )


class StreamingRecognizer:
    """Runs a causal :class:`AsrModel` over streams of audio, chunk by chunk.

    Example:
        >>> recognizer = StreamingRecognizer(model)            # doctest: +SKIP
        >>> s = recognizer.create_stream()                     # doctest: +SKIP
        >>> s.accept_waveform(samples); s.input_finished()     # doctest: +SKIP
        >>> while recognizer.step([s]): pass                   # doctest: +SKIP
        >>> recognizer.text(s)                                 # doctest: +SKIP
    """

    def __init__(
        self,
        model: AsrModel,
        config: StreamingConfig | None = None,
        fbank_options: FbankOptions | None = None,
    ) -> None:
        self.model = model.eval()
        self.config = config or StreamingConfig()
        self.search_options = self.config.search_options
        search.check_model(model, self.search_options)
        model.config.encoder.check_chunking(
            self.config.chunk_frames, self.config.left_context_frames
        )
        self.window = model.encoder.chunk_input_frames(self.config.chunk_frames)
        self.fbank_options = fbank_options
        self.device = next(model.parameters()).device
        check_precision(self.config.precision)
        if self.config.precision != "fp32" and not self.config.compile:
            raise ValueError(f"precision={self.config.precision!r} needs compile=True")
        self._encode_chunk: ChunkStep = model.encode_chunk
        if self.config.compile:
            self._encode_chunk = compile_chunk_step(model, self.config.precision)

    def create_stream(self, hotwords: ContextGraph | None = None) -> Stream:
        """A new stream; ``hotwords`` (beam searches) replace the config's for this stream."""
        if hotwords is not None and self.config.method not in search.BIASABLE:
            raise ValueError(f"hotwords need a beam search, not {self.config.method}")
        # Made like the states that step() returns (inference tensors), so that a compiled step
        # sees one kind of state from the first chunk on.
        with torch.inference_mode():
            state = self.model.initial_state(1, self.config.left_context_frames, self.device)
        return Stream(
            state, search.start(self.model, self.search_options, hotwords), self.fbank_options
        )

    @torch.inference_mode()  # lighter than no_grad per op; streaming runs many small ones
    def step(self, streams: list[Stream]) -> list[Stream]:
        """Encodes and decodes the next chunk of every stream that has one; returns those."""
        ready = [s for s in streams if s.window_ready(self.window)]
        if not ready:
            return []
        chunk = self.config.chunk_frames
        features = torch.stack([s.take_window(self.window, 2 * chunk) for s in ready])
        # One stream (a live microphone) needs no batching copy of its ~75 state tensors.
        state = ready[0].state if len(ready) == 1 else EncoderState.stack([s.state for s in ready])
        if self.config.compile:  # one memory layout for every call: no recompiling for it
            state = EncoderState.from_flat([_packed(t) for t in state.to_flat()])
        out, state = self._encode_chunk(features.to(self.device), state)
        per_chunk = out.shape[1]
        lengths, offsets = [], []
        for i, s in enumerate(ready):
            s.state = state if len(ready) == 1 else state.select(i)
            valid = per_chunk
            if s.finished:  # the padded tail: decode only frames the audio has
                valid = max(0, min(per_chunk, s.total_output_frames - s.output_frames))
            lengths.append(valid)
            offsets.append(s.output_frames)
        lengths_t = torch.tensor(lengths, device=out.device)
        search.advance(
            self.model, out, lengths_t, [s.search for s in ready], self.search_options, offsets
        )
        for s, n in zip(ready, lengths):
            s.output_frames += n
        return ready

    def text(self, stream: Stream) -> str:
        """The stream's text so far (needs the model's token table)."""
        if self.model.tokens is None:
            raise ValueError("the model has no token table; use stream.result.tokens")
        return tokens_to_text(stream.result.tokens, self.model.tokens)

    def is_endpoint(self, stream: Stream) -> bool:
        """Whether the stream's current segment has ended by one of the config's
        :attr:`~StreamingConfig.endpoint_rules`; then call :meth:`reset` to start the next."""
        said = bool(stream.result.tokens)
        silence, length = stream.trailing_silence_s(), stream.segment_s()
        return any(
            (said or not rule.must_contain_nonsilence)
            and silence >= rule.min_trailing_silence_s
            and length >= rule.min_utterance_length_s
            for rule in self.config.endpoint_rules
        )

    def reset(self, stream: Stream) -> None:
        """Starts a new segment of ``stream`` (after an endpoint): :attr:`Stream.result` is
        empty again, while the encoder state, the decoder's context and the LM and hotword
        states carry on, so no token is lost or changed at the boundary. The beam searches keep
        only their best hypothesis: its tokens so far become the fixed past."""
        state = stream.search
        if isinstance(state, BeamState):
            seq, path = max(state.candidates.items(), key=lambda kv: kv[1].score)
            state.candidates = {seq: path}
        elif isinstance(state, CtcBeamState):
            ranked = torch.logaddexp(state.ends_blank, state.ends_label) + state.extra
            k = int(ranked.argmax())
            for name in ("prefixes", "frames", "token_log_probs", "lm_states", "context_states"):
                setattr(state, name, [getattr(state, name)[k]])
            for name in ("ends_blank", "ends_label", "extra"):
                setattr(state, name, getattr(state, name)[k : k + 1])
        stream.segment_token = len(stream.whole.tokens)
        stream.segment_frame = stream.output_frames
        stream.segments += 1


def _packed(t: torch.Tensor) -> torch.Tensor:
    """``t`` with the strides of a new contiguous tensor of its shape (copied only if needed).

    ``Tensor.contiguous`` is not enough: it keeps any stride on a size-1 axis, and compiled
    code is specialised on every stride.
    """
    strides, step = [], 1
    for size in reversed(t.shape):
        strides.append(step)
        step *= max(size, 1)
    if t.stride() == tuple(reversed(strides)):
        return t
    return t.clone(memory_format=torch.contiguous_format)
