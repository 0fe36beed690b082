"""Attention-decoder rescoring: n-best lists from CTC prefix beam search or from transducer
modified beam search, re-ranked by ``first-pass score + attention_scale * AED score``.

The first is icefall's ``ctc-prefix-beam-search-attention-decoder-rescoring`` (its CTC/AED
recipe's best method); the second applies the same re-ranking to a transducer's beam. The AED
score of a hypothesis is the attention decoder's log-probability of its tokens followed by the
end symbol, given the utterance's encoder output.

Legend: B utterances, T encoder frames, C encoder width, V vocabulary, N hypotheses.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch
from torch import Tensor

from zipasr.decoding.beam import BeamState, continue_beam_search
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
def ctc_prefix_beam_nbest(
    log_probs: Tensor, lengths: Tensor, *, beam: int = 4, blank: int = 0
) -> list[list[Hypothesis]]:
    """CTC prefix beam search that returns every prefix left in the beam, best first.

    Args:
        log_probs: (B, T, V) CTC log-probabilities; lengths: (B,).
        beam: prefixes kept per frame (and returned); labels tried per frame.

    Returns:
        B lists of up to ``beam`` hypotheses; ``score`` = log P(prefix) summed over its
        alignments, ``frames`` = the frame at which each label was first emitted.
    """
    if beam < 1:
        raise ValueError(f"beam={beam} must be >= 1")
    out = []
    for b, n in enumerate(lengths.tolist()):
        frames = log_probs[b, :n]
        top = frames.topk(min(beam, frames.shape[1]), dim=-1)
        # prefix -> [log P(.. ends in blank), log P(.. ends in its last label), label frames]
        beams: dict[tuple[int, ...], list] = {(): [0.0, -math.inf, ()]}
        for t in range(n):
            grown: dict[tuple[int, ...], list] = defaultdict(lambda: [-math.inf, -math.inf, ()])
            for prefix, (ends_blank, ends_label, where) in beams.items():
                total = _log_add(ends_blank, ends_label)
                last = prefix[-1] if prefix else None
                for lp, label in zip(top.values[t].tolist(), top.indices[t].tolist()):
                    if label == blank:
                        kept = grown[prefix]
                        kept[0] = _log_add(kept[0], total + lp)
                        kept[2] = where
                    elif label == last:
                        # Repeating the last label without a blank between merges into it ...
                        kept = grown[prefix]
                        kept[1] = _log_add(kept[1], ends_label + lp)
                        kept[2] = where
                        # ... and only after a blank does it extend the prefix.
                        longer = grown[prefix + (label,)]
                        longer[1] = _log_add(longer[1], ends_blank + lp)
                        longer[2] = longer[2] or where + (t,)
                    else:
                        longer = grown[prefix + (label,)]
                        longer[1] = _log_add(longer[1], total + lp)
                        longer[2] = longer[2] or where + (t,)
            ranked = sorted(
                grown.items(), key=lambda kv: _log_add(kv[1][0], kv[1][1]), reverse=True
            )
            beams = dict(ranked[:beam])
        out.append(
            [
                Hypothesis(list(prefix), list(where), _log_add(eb, el))
                for prefix, (eb, el, where) in beams.items()
            ]
        )
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
    head = model._transducer()
    context = head.config.context_size
    states = [BeamState.start(context, model.blank_id) for _ in range(encoder_out.shape[0])]
    continue_beam_search(model, encoder_out, encoder_lengths, states, beam=beam)
    nbest = []
    for state in states:
        ranked = sorted(state.candidates.items(), key=lambda kv: kv[1][0], reverse=True)
        nbest.append([Hypothesis(list(seq[context:]), list(f), s) for seq, (s, f) in ranked])
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


def _log_add(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))
