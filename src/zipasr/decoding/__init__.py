"""Turning encoder output into tokens: transducer greedy and beam search, CTC greedy and prefix
beam search (all behind :func:`search` / :func:`start` + :func:`advance`), language-model fusion
and hotwords, and attention-decoder rescoring of n-best lists."""

from zipasr.decoding.beam import BeamState, continue_beam_search, modified_beam_search
from zipasr.decoding.context import ContextGraph, load_hotwords, parse_hotwords
from zipasr.decoding.ctc import (
    CtcBeamState,
    CtcGreedyState,
    ctc_greedy_search,
    ctc_prefix_beam_nbest,
    ctc_prefix_beam_search,
)
from zipasr.decoding.fusion import Fusion
from zipasr.decoding.greedy import continue_greedy_search, greedy_search
from zipasr.decoding.hypothesis import Hypothesis, tokens_to_text
from zipasr.decoding.lm import LmScorer, NgramLm, estimate_ngram, write_arpa
from zipasr.decoding.methods import (
    BIASABLE,
    METHODS,
    SearchOptions,
    SearchState,
    advance,
    all_methods,
    check_model,
    result,
    search,
    start,
)
from zipasr.decoding.rescore import (
    RESCORERS,
    ctc_prefix_beam_search_attention_rescoring,
    modified_beam_search_attention_rescoring,
    modified_beam_search_nbest,
    pick_best,
)

__all__ = [
    "BIASABLE",
    "METHODS",
    "RESCORERS",
    "BeamState",
    "ContextGraph",
    "CtcBeamState",
    "CtcGreedyState",
    "Fusion",
    "Hypothesis",
    "LmScorer",
    "NgramLm",
    "SearchOptions",
    "SearchState",
    "advance",
    "all_methods",
    "check_model",
    "continue_beam_search",
    "continue_greedy_search",
    "ctc_greedy_search",
    "ctc_prefix_beam_nbest",
    "ctc_prefix_beam_search",
    "ctc_prefix_beam_search_attention_rescoring",
    "estimate_ngram",
    "greedy_search",
    "load_hotwords",
    "modified_beam_search",
    "modified_beam_search_attention_rescoring",
    "modified_beam_search_nbest",
    "parse_hotwords",
    "pick_best",
    "result",
    "search",
    "start",
    "tokens_to_text",
    "write_arpa",
]
