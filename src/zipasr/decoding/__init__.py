"""Turning encoder output into tokens: transducer greedy and beam search, CTC decoding, and
attention-decoder rescoring of either's n-best lists."""

from collections.abc import Callable

from zipasr.decoding.beam import BeamState, continue_beam_search, modified_beam_search
from zipasr.decoding.ctc import ctc_greedy_search, ctc_prefix_beam_nbest, ctc_prefix_beam_search
from zipasr.decoding.greedy import continue_greedy_search, greedy_search
from zipasr.decoding.hypothesis import Hypothesis, tokens_to_text
from zipasr.decoding.rescore import (
    RESCORERS,
    ctc_prefix_beam_search_attention_rescoring,
    modified_beam_search_attention_rescoring,
    modified_beam_search_nbest,
    pick_best,
)

#: Transducer decoders by the names icefall's decode scripts use.
DECODERS: dict[str, Callable[..., list[Hypothesis]]] = {
    "greedy_search": greedy_search,
    "modified_beam_search": modified_beam_search,
}

__all__ = [
    "DECODERS",
    "RESCORERS",
    "BeamState",
    "continue_beam_search",
    "continue_greedy_search",
    "Hypothesis",
    "ctc_greedy_search",
    "ctc_prefix_beam_nbest",
    "ctc_prefix_beam_search",
    "ctc_prefix_beam_search_attention_rescoring",
    "greedy_search",
    "modified_beam_search",
    "modified_beam_search_attention_rescoring",
    "modified_beam_search_nbest",
    "pick_best",
    "tokens_to_text",
]
