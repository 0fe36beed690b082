"""CTC decoding: greedy, and prefix beam search."""

from __future__ import annotations

import math
from collections import defaultdict

import torch
from torch import Tensor

from zipasr.decoding.hypothesis import Hypothesis, with_text


@torch.no_grad()
def ctc_greedy_search(
    log_probs: Tensor, lengths: Tensor, *, blank: int = 0, tokens: list[str] | None = None
) -> list[Hypothesis]:
    """Best label per frame, repeats collapsed, blanks removed.

    Args:
        log_probs: (B, T, V) from :meth:`AsrModel.ctc_log_probs`; lengths: (B,).
    """
    best_scores, best = log_probs.max(dim=-1)
    hyps = []
    for b, n in enumerate(lengths.tolist()):
        labels = best[b, :n].tolist()
        hyp = Hypothesis(score=float(best_scores[b, :n].sum()))
        previous = blank
        for t, label in enumerate(labels):
            if label != blank and label != previous:
                hyp.tokens.append(label)
                hyp.frames.append(t)
            previous = label
        hyps.append(hyp)
    return with_text(hyps, tokens)


def ctc_prefix_beam_search(
    log_probs: Tensor,
    lengths: Tensor,
    *,
    beam: int = 4,
    blank: int = 0,
    tokens: list[str] | None = None,
) -> list[Hypothesis]:
    """The standard CTC prefix beam search: keeps the ``beam`` most probable label prefixes,
    each with its probability of ending in blank and in its last label; returns the best one
    per utterance (:func:`ctc_prefix_beam_nbest` returns them all).

    Args:
        log_probs: (B, T, V); lengths: (B,).
    """
    nbest = ctc_prefix_beam_nbest(log_probs, lengths, beam=beam, blank=blank)
    return with_text([hyps[0] for hyps in nbest], tokens)


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


def _log_add(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))
