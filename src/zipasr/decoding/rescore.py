"""Attention-decoder rescoring: n-best lists from CTC prefix beam search or from transducer
modified beam search, re-ranked by ``first-pass score + attention_scale * AED score``.

The first is icefall's ``ctc-prefix-beam-search-attention-decoder-rescoring`` (its CTC/AED
recipe's best method); the second applies the same re-ranking to a transducer's beam. The AED
score of a hypothesis is the attention decoder's log-probability of its tokens followed by the
end symbol, given the utterance's encoder output.

Legend: B utterances, T encoder frames, C encoder width, V vocabulary, N hypotheses.
"""

from __future__ import annotations

import torch
from torch import Tensor

from zipasr.decoding.beam import BeamState, continue_beam_search
from zipasr.decoding.ctc import ctc_prefix_beam_nbest
from zipasr.decoding.hypothesis import Hypothesis, with_text
from zipasr.models.asr import AsrModel

#: The default weight of the attention decoder's score against the first pass's.
ATTENTION_SCALE = 1.0


def pick_best(
    nbest: list[list[Hypothesis]], attention_scores: list[list[float]], attention_scale: float
) -> list[Hypothesis]:
    """Per utterance, the hypothesis with the highest ``score + attention_scale * attention``.

    Args:
        nbest: B lists of candidate hypotheses (each non-empty), ``score`` = first-pass
            log-probability.
        attention_scores: the same shape: each candidate's attention-decoder log-probability.
        attention_scale: weight of the attention score.

    Returns:
        B hypotheses; each is a copy of the winner with ``score`` set to its combined score.
        Ties go to the earlier candidate.
    """
    if len(nbest) != len(attention_scores):
        raise ValueError(f"{len(nbest)} n-best lists but {len(attention_scores)} score lists")
    best = []
    for b, (hyps, scores) in enumerate(zip(nbest, attention_scores)):
        if not hyps or len(hyps) != len(scores):
            raise ValueError(f"utterance {b}: {len(hyps)} hypotheses but {len(scores)} scores")
        totals = [h.score + attention_scale * a for h, a in zip(hyps, scores)]
        winner = max(range(len(hyps)), key=lambda i: totals[i])
        h = hyps[winner]
        best.append(Hypothesis(list(h.tokens), list(h.frames), totals[winner], h.text))
    return best


@torch.no_grad()
def attention_scores(
    model: AsrModel, encoder_out: Tensor, encoder_lengths: Tensor, nbest: list[list[Hypothesis]]
) -> list[list[float]]:
    """The attention decoder's log-probability of each hypothesis (tokens, then the end
    symbol), all of them in one batch.

    Args:
        model: a model with an attention decoder.
        encoder_out: (B, T, C); encoder_lengths: (B,); nbest: B lists of hypotheses.
    """
    decoder = model._attention_decoder()
    rows = [b for b, hyps in enumerate(nbest) for _ in hyps]
    if not rows:
        return [[] for _ in nbest]
    index = torch.tensor(rows, device=encoder_out.device)
    flat = [h.tokens for hyps in nbest for h in hyps]
    scores = decoder.sequence_scores(encoder_out[index], encoder_lengths[index], flat).tolist()
    out: list[list[float]] = []
    for hyps in nbest:
        out.append(scores[: len(hyps)])
        scores = scores[len(hyps) :]
    return out


@torch.no_grad()
def ctc_prefix_beam_search_attention_rescoring(
    model: AsrModel,
    encoder_out: Tensor,
    encoder_lengths: Tensor,
    *,
    beam: int = 4,
    attention_scale: float = ATTENTION_SCALE,
) -> list[Hypothesis]:
    """icefall's ``ctc-prefix-beam-search-attention-decoder-rescoring``: the ``beam`` best
    prefixes of CTC prefix beam search, re-ranked by CTC score + ``attention_scale`` * AED
    score.

    Args:
        model: a model with a CTC head and an attention decoder.
        encoder_out: (B, T, C); encoder_lengths: (B,).

    Returns:
        The best hypothesis per utterance, ``score`` = its combined score.
    """
    model._attention_decoder()  # fail before the search if there is none
    nbest = ctc_prefix_beam_nbest(
        model.ctc_log_probs(encoder_out), encoder_lengths, beam=beam, blank=model.blank_id
    )
    scores = attention_scores(model, encoder_out, encoder_lengths, nbest)
    return with_text(pick_best(nbest, scores, attention_scale), model.tokens)


@torch.no_grad()
def modified_beam_search_nbest(
    model: AsrModel, encoder_out: Tensor, encoder_lengths: Tensor, *, beam: int = 4
) -> list[list[Hypothesis]]:
    """Every sequence left in the beam of transducer modified beam search, best first by
    log-probability (see :func:`~zipasr.decoding.modified_beam_search`)."""
    states = [
        BeamState.start(model.context_size, model.blank_id) for _ in range(encoder_out.shape[0])
    ]
    continue_beam_search(model, encoder_out, encoder_lengths, states, beam=beam)
    nbest = [state.ranked() for state in states]
    return nbest


@torch.no_grad()
def modified_beam_search_attention_rescoring(
    model: AsrModel,
    encoder_out: Tensor,
    encoder_lengths: Tensor,
    *,
    beam: int = 4,
    attention_scale: float = ATTENTION_SCALE,
) -> list[Hypothesis]:
    """The transducer's modified-beam-search n-best (``beam`` sequences), re-ranked by
    transducer log-probability + ``attention_scale`` * AED score.

    Args:
        model: a model with a transducer head and an attention decoder.
        encoder_out: (B, T, C); encoder_lengths: (B,).
    """
    model._attention_decoder()
    nbest = modified_beam_search_nbest(model, encoder_out, encoder_lengths, beam=beam)
    scores = attention_scores(model, encoder_out, encoder_lengths, nbest)
    return with_text(pick_best(nbest, scores, attention_scale), model.tokens)


#: Rescoring decoders by method name (the CTC one is icefall's name, with underscores).
RESCORERS = {
    "ctc_prefix_beam_search_attention_decoder_rescoring": (
        ctc_prefix_beam_search_attention_rescoring
    ),
    "modified_beam_search_attention_decoder_rescoring": modified_beam_search_attention_rescoring,
}
