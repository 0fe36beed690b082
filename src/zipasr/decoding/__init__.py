"""Turning encoder output into tokens: transducer greedy and beam search, CTC decoding."""

from collections.abc import Callable

from zipasr.decoding.beam import BeamState, continue_beam_search, modified_beam_search
from zipasr.decoding.ctc import ctc_greedy_search, ctc_prefix_beam_search
from zipasr.decoding.greedy import continue_greedy_search, greedy_search
from zipasr.decoding.hypothesis import Hypothesis, tokens_to_text

#: Transducer decoders by the names icefall's decode scripts use.
DECODERS: dict[str, Callable[..., list[Hypothesis]]] = {
    "greedy_search": greedy_search,
    "modified_beam_search": modified_beam_search,
}

__all__ = [
    "DECODERS",
    "BeamState",
    "continue_beam_search",
    "continue_greedy_search",
    "Hypothesis",
    "ctc_greedy_search",
    "ctc_prefix_beam_search",
    "greedy_search",
    "modified_beam_search",
    "tokens_to_text",
]
