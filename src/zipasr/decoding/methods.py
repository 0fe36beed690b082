"""One entry point for every search: offline (:func:`search`) and chunk by chunk (:func:`start`,
:func:`advance`, :func:`result`), dispatched on the method name here and nowhere else.

Every search is built on :class:`~zipasr.models.asr.AsrModel`'s public primitives
(``project_encoder``, ``predict_projected``, ``join``, ``ctc_log_probs``) and keeps a state per
utterance or stream that more encoder frames advance, so offline decoding, streaming and the
export checks run the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from zipasr.decoding.beam import BeamState, continue_beam_search
from zipasr.decoding.context import ContextGraph
from zipasr.decoding.ctc import (
    CtcBeamState,
    CtcGreedyState,
    continue_ctc_greedy_search,
    continue_ctc_prefix_beam_search,
)
from zipasr.decoding.fusion import Fusion
from zipasr.decoding.greedy import continue_greedy_search
from zipasr.decoding.hypothesis import Hypothesis, with_text
from zipasr.decoding.rescore import RESCORERS
from zipasr.models.asr import AsrModel

#: What a search keeps per utterance or stream.
SearchState = Hypothesis | BeamState | CtcGreedyState | CtcBeamState


@dataclass(frozen=True)
class SearchOptions:
    """A search and its settings.

    Attributes:
        method: one of :data:`METHODS` (chunk by chunk or offline) or of
            :data:`~zipasr.decoding.RESCORERS` (offline, attention-decoder rescoring).
        beam: hypotheses kept by the beam searches (n-best size of the rescorers).
        max_symbols_per_frame: transducer greedy search: tokens per encoder frame.
        blank_penalty: subtracted from the blank's logit (transducer) or log-probability
            (CTC) before the search looks at it; > 0 favours emitting tokens.
        fusion: language models (shallow fusion, LODR) for the beam searches.
        context_graph: hotwords for the beam searches (a stream may have its own).
    """

    method: str = "greedy_search"
    beam: int = 4
    max_symbols_per_frame: int = 1
    blank_penalty: float = 0.0
    fusion: Fusion = field(default_factory=Fusion)
    context_graph: ContextGraph | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS and self.method not in RESCORERS:
            raise ValueError(f"method={self.method!r}; choose one of {all_methods()}")
        if self.beam < 1:
            raise ValueError(f"beam={self.beam} must be at least 1")
        if self.max_symbols_per_frame < 1:
            raise ValueError(f"max_symbols_per_frame={self.max_symbols_per_frame} must be >= 1")
        if self.method not in BIASABLE:
            what = "a language model" if self.fusion.active else None
            what = "hotwords" if self.context_graph is not None else what
            if what is not None:
                raise ValueError(
                    f"{what} need a beam search ({' or '.join(BIASABLE)}), not {self.method}"
                )


@dataclass(frozen=True)
class _Method:
    needs: str  # "transducer" or "ctc"
    start: Callable[[AsrModel, SearchOptions, ContextGraph | None], Any]
    advance: Callable[[AsrModel, Tensor, Tensor, list, SearchOptions, list[int] | None], None]


def _greedy(model, enc, lengths, states, options, offsets) -> None:  # type: ignore[no-untyped-def]
    continue_greedy_search(
        model,
        enc,
        lengths,
        states,
        frame_offsets=offsets,
        max_symbols_per_frame=options.max_symbols_per_frame,
        blank_penalty=options.blank_penalty,
    )


def _beam(model, enc, lengths, states, options, offsets) -> None:  # type: ignore[no-untyped-def]
    continue_beam_search(
        model,
        enc,
        lengths,
        states,
        beam=options.beam,
        blank_penalty=options.blank_penalty,
        frame_offsets=offsets,
    )


def _ctc_greedy(model, enc, lengths, states, options, offsets) -> None:  # type: ignore[no-untyped-def]
    continue_ctc_greedy_search(
        model.ctc_log_probs(enc),
        lengths,
        states,
        blank=model.blank_id,
        blank_penalty=options.blank_penalty,
        frame_offsets=offsets,
    )


def _ctc_beam(model, enc, lengths, states, options, offsets) -> None:  # type: ignore[no-untyped-def]
    continue_ctc_prefix_beam_search(
        model.ctc_log_probs(enc),
        lengths,
        states,
        beam=options.beam,
        blank=model.blank_id,
        blank_penalty=options.blank_penalty,
        frame_offsets=offsets,
    )


#: The searches that run chunk by chunk (and offline), by the names icefall uses.
METHODS: dict[str, _Method] = {
    "greedy_search": _Method("transducer", lambda m, o, g: Hypothesis(), _greedy),
    "modified_beam_search": _Method(
        "transducer",
        lambda m, o, g: BeamState.start(
            m.context_size, m.blank_id, fusion=o.fusion, context_graph=g
        ),
        _beam,
    ),
    "ctc_greedy_search": _Method("ctc", lambda m, o, g: CtcGreedyState(), _ctc_greedy),
    "ctc_prefix_beam_search": _Method(
        "ctc", lambda m, o, g: CtcBeamState.start(fusion=o.fusion, context_graph=g), _ctc_beam
    ),
}
#: The searches that take a language model and hotwords.
BIASABLE = ("modified_beam_search", "ctc_prefix_beam_search")


def all_methods() -> list[str]:
    """Every method name :func:`search` takes."""
    return [*METHODS, *RESCORERS]


def check_model(model: AsrModel, options: SearchOptions) -> None:
    """Raises ValueError (naming the missing head) if ``model`` cannot run ``options.method``."""
    if options.method in RESCORERS:  # (each checks its first-pass head itself)
        if model.attention_decoder is None:
            raise ValueError(f"{options.method}: this model has no attention decoder")
        return
    needs = METHODS[options.method].needs
    if needs == "ctc" and model.ctc is None:
        raise ValueError(f"{options.method} needs a model with a CTC head; this one has none")
    if needs == "transducer" and model.transducer is None:
        raise ValueError(
            f"{options.method} needs a model with a transducer head; this one is CTC-only "
            "(use ctc_greedy_search or ctc_prefix_beam_search)"
        )


def start(
    model: AsrModel, options: SearchOptions, context_graph: ContextGraph | None = None
) -> SearchState:
    """A new utterance's search state; ``context_graph`` overrides the options' hotwords."""
    if options.method not in METHODS:
        raise ValueError(f"{options.method} runs offline only; use search()")
    graph = context_graph if context_graph is not None else options.context_graph
    return METHODS[options.method].start(model, options, graph)  # type: ignore[no-any-return]


def advance(
    model: AsrModel,
    encoder_out: Tensor,
    encoder_lengths: Tensor,
    states: list[SearchState],
    options: SearchOptions,
    frame_offsets: list[int] | None = None,
) -> None:
    """Advances every state (all made by :func:`start` with ``options``) in place over more
    encoder frames: (B, T, C) and (B,) valid frames; ``frame_offsets`` counts the frames each
    has seen before."""
    METHODS[options.method].advance(
        model, encoder_out, encoder_lengths, states, options, frame_offsets
    )


def result(state: SearchState, tokens: list[str] | None = None) -> Hypothesis:
    """The best hypothesis so far (with text when ``tokens`` is given)."""
    if isinstance(state, Hypothesis):  # a copy: the search goes on extending the state
        hyp = Hypothesis(
            list(state.tokens),
            list(state.frames),
            state.score,
            token_log_probs=list(state.token_log_probs),
        )
    else:
        hyp = state.best()
    return with_text([hyp], tokens)[0]


def search(
    model: AsrModel,
    encoder_out: Tensor,
    encoder_lengths: Tensor,
    options: SearchOptions | None = None,
    *,
    attention_scale: float = 1.0,
) -> list[Hypothesis]:
    """Decodes a batch of encoder output: (B, T, C) and (B,) lengths -> B hypotheses (with
    text when the model has a token table).

    ``attention_scale``: the rescoring methods' weight of the attention decoder's score.
    """
    options = options or SearchOptions()
    check_model(model, options)
    if options.method in RESCORERS:
        return RESCORERS[options.method](  # type: ignore[no-any-return]
            model,
            encoder_out,
            encoder_lengths,
            beam=options.beam,
            attention_scale=attention_scale,
        )
    states = [start(model, options) for _ in range(encoder_out.shape[0])]
    advance(model, encoder_out, encoder_lengths, states, options)
    return [result(s, model.tokens) for s in states]
