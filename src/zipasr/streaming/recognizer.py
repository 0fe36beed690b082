"""StreamingRecognizer: many streams, one chunk at a time, batched."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from zipasr.audio import FbankOptions
from zipasr.decoding.beam import BeamState, continue_beam_search
from zipasr.decoding.greedy import continue_greedy_search
from zipasr.decoding.hypothesis import Hypothesis, tokens_to_text
from zipasr.encoder.state import EncoderState
from zipasr.models.asr import AsrModel
from zipasr.streaming.stream import Stream


@dataclass(frozen=True)
class StreamingConfig:
    """How a causal model is run as it streams.

    Attributes:
        chunk_frames: 50 Hz frames per chunk (16 = 320 ms of new audio per step).
        left_context_frames: 50 Hz frames of past each chunk attends to.
        method: "greedy_search" or "modified_beam_search".
        beam: for modified beam search.
        endpoint_silence_s: a stream that has emitted tokens and then nothing for this long is
            at an endpoint (see :meth:`StreamingRecognizer.is_endpoint`); None disables it.
        compile: run the encoder's chunk step through ``torch.compile``. On CPU it needs a C++
            compiler; the first chunks wait while it compiles (about a minute for Zipformer-S,
            and again once when the number of streams first changes); then the encoder step
            takes about a third less time, and streaming as a whole about a quarter less
            (``benchmarks/decode_speed.py --compile``). Outputs agree with the eager step to
            about 1e-5. For long-running servers; off by default.
    """

    chunk_frames: int = 16
    left_context_frames: int = 128
    method: str = "greedy_search"
    beam: int = 4
    endpoint_silence_s: float | None = 1.2
    compile: bool = False


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
        if self.config.method not in ("greedy_search", "modified_beam_search"):
            raise ValueError(
                f"method={self.config.method!r}; choose greedy_search or modified_beam_search"
            )
        model.config.encoder.check_chunking(
            self.config.chunk_frames, self.config.left_context_frames
        )
        self.window = model.encoder.chunk_input_frames(self.config.chunk_frames)
        self._encode_chunk = model.encode_chunk
        if self.config.compile:
            self._encode_chunk = torch.compile(model.encode_chunk)
        self.fbank_options = fbank_options
        self.device = next(model.parameters()).device

    def create_stream(self) -> Stream:
        # Made like the states that step() returns (inference tensors), so that a compiled step
        # sees one kind of state from the first chunk on.
        with torch.inference_mode():
            state = self.model.initial_state(1, self.config.left_context_frames, self.device)
        search: Hypothesis | BeamState
        if self.config.method == "greedy_search":
            search = Hypothesis()
        else:
            context = self.model._transducer().config.context_size
            search = BeamState.start(context, self.model.blank_id)
        return Stream(state, search, self.fbank_options)

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
        searches = [s.search for s in ready]
        hyps = [h for h in searches if isinstance(h, Hypothesis)]
        beams = [b for b in searches if isinstance(b, BeamState)]
        if hyps:
            continue_greedy_search(self.model, out, lengths_t, hyps, frame_offsets=offsets)
        if beams:
            continue_beam_search(
                self.model, out, lengths_t, beams, beam=self.config.beam, frame_offsets=offsets
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
        """True after ``endpoint_silence_s`` without a new token, once something was said."""
        limit = self.config.endpoint_silence_s
        return (
            limit is not None
            and bool(stream.result.tokens)
            and stream.trailing_silence_s() >= limit
        )


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
