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


@torch.no_grad()
def ctc_prefix_beam_search(
    log_probs: Tensor,
    lengths: Tensor,
    *,
    beam: int = 4,
    blank: int = 0,
    tokens: list[str] | None = None,
) -> list[Hypothesis]:
    """The standard CTC prefix beam search: keeps the ``beam`` most probable label prefixes,
    each with its probability of ending in blank and in its last label.

    Args:
        log_probs: (B, T, V); lengths: (B,).
    """
    if beam < 1:
        raise ValueError(f"beam={beam} must be >= 1")
    hyps = []
    neg_inf = -math.inf
    for b, n in enumerate(lengths.tolist()):
        frames = log_probs[b, :n]
        candidates = frames.topk(min(beam, frames.shape[1]), dim=-1)
        # prefix -> (log P(ends in blank), log P(ends in last label), frames of its labels)
        prefixes: dict[tuple[int, ...], list] = {(): [0.0, neg_inf, ()]}
        for t in range(n):
            nxt: dict[tuple[int, ...], list] = defaultdict(lambda: [neg_inf, neg_inf, ()])
            for prefix, (p_blank, p_label, where) in prefixes.items():
                total = _log_add(p_blank, p_label)
                for lp, label in zip(candidates.values[t].tolist(), candidates.indices[t].tolist()):
                    if label == blank:
                        entry = nxt[prefix]
                        entry[0] = _log_add(entry[0], total + lp)
                        entry[2] = where
                        continue
                    last = prefix[-1] if prefix else None
                    extended = prefix + (label,)
                    entry = nxt[extended]
                    # A repeated label only extends the prefix after a blank.
                    entry[1] = _log_add(entry[1], (p_blank if label == last else total) + lp)
                    if not entry[2]:
                        entry[2] = where + (t,)
                    if label == last:
                        same = nxt[prefix]
                        same[1] = _log_add(same[1], p_label + lp)
                        same[2] = where
            ranked = sorted(nxt.items(), key=lambda kv: _log_add(kv[1][0], kv[1][1]), reverse=True)
            prefixes = dict(ranked[:beam])
        prefix, (p_blank, p_label, where) = max(
            prefixes.items(), key=lambda kv: _log_add(kv[1][0], kv[1][1])
        )
        hyps.append(Hypothesis(list(prefix), list(where), _log_add(p_blank, p_label)))
    return with_text(hyps, tokens)


def _log_add(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))
