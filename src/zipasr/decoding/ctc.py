"""CTC decoding: greedy, and prefix beam search (batched over utterances and prefixes, with
optional LM fusion and hotwords), offline or continued chunk by chunk."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from zipasr.decoding.context import ContextGraph
from zipasr.decoding.fusion import Fusion, LmStates
from zipasr.decoding.hypothesis import Hypothesis, with_text


@dataclass
class CtcGreedyState:
    """Greedy CTC decoding of one stream: its hypothesis and the last frame's label (a label
    repeated across a chunk boundary is still one token)."""

    hyp: Hypothesis = field(default_factory=Hypothesis)
    previous: int = -1

    def best(self) -> Hypothesis:
        h = self.hyp
        return Hypothesis(
            list(h.tokens), list(h.frames), h.score, token_log_probs=list(h.token_log_probs)
        )


@torch.no_grad()
def ctc_greedy_search(
    log_probs: Tensor,
    lengths: Tensor,
    *,
    blank: int = 0,
    tokens: list[str] | None = None,
    blank_penalty: float = 0.0,
) -> list[Hypothesis]:
    """Best label per frame, repeats collapsed, blanks removed.

    Args:
        log_probs: (B, T, V) from :meth:`AsrModel.ctc_log_probs`; lengths: (B,).
        blank_penalty: subtracted from the blank's log-probability before the argmax.
    """
    states = [CtcGreedyState() for _ in range(log_probs.shape[0])]
    continue_ctc_greedy_search(log_probs, lengths, states, blank=blank, blank_penalty=blank_penalty)
    return with_text([s.hyp for s in states], tokens)


@torch.no_grad()
def continue_ctc_greedy_search(
    log_probs: Tensor,
    lengths: Tensor,
    states: list[CtcGreedyState],
    *,
    blank: int = 0,
    blank_penalty: float = 0.0,
    frame_offsets: list[int] | None = None,
) -> None:
    """Extends each :class:`CtcGreedyState` in place with more frames (streaming)."""
    if blank_penalty:
        log_probs = log_probs.clone()
        log_probs[..., blank] -= blank_penalty
    best_scores, best = log_probs.max(dim=-1)
    offsets = frame_offsets or [0] * len(states)
    for b, n in enumerate(lengths.tolist()):
        state, labels, scores = states[b], best[b, :n].tolist(), best_scores[b, :n].tolist()
        hyp = state.hyp
        hyp.score += sum(scores)
        for t, (label, score) in enumerate(zip(labels, scores)):
            if label != blank and label != state.previous:
                hyp.tokens.append(label)
                hyp.frames.append(offsets[b] + t)
                hyp.token_log_probs.append(score)
            state.previous = label


@dataclass
class CtcBeamState:
    """The prefixes CTC prefix beam search keeps for one utterance or stream.

    Attributes:
        prefixes: label sequences (blanks and repeats removed).
        ends_blank, ends_label: (K,) log-probabilities of each prefix's alignments so far that
            end in blank / in its last label.
        extra: (K,) LM and hotword scores of each prefix (ranked with its probability).
        frames, token_log_probs: per prefix and token, where it was first emitted and its
            log-probability there.
        lm_states, context_states: per prefix (see :class:`Fusion`, :class:`ContextGraph`).
    """

    prefixes: list[tuple[int, ...]]
    ends_blank: Tensor
    ends_label: Tensor
    extra: Tensor
    frames: list[tuple[int, ...]]
    token_log_probs: list[tuple[float, ...]]
    lm_states: list[LmStates]
    context_states: list[int]
    fusion: Fusion = field(default_factory=Fusion)
    context_graph: ContextGraph | None = None

    @classmethod
    def start(
        cls, *, fusion: Fusion | None = None, context_graph: ContextGraph | None = None
    ) -> CtcBeamState:
        fusion = fusion or Fusion()
        return cls(
            [()],
            torch.zeros(1),
            torch.full((1,), -math.inf),
            torch.zeros(1),
            [()],
            [()],
            [fusion.start()],
            [0],
            fusion,
            context_graph,
        )

    def ranked(self) -> list[Hypothesis]:
        """Every prefix, best first; ``score`` = log P(prefix) over its alignments plus its LM
        and hotword scores (with the end-of-sentence LM score and an unfinished hotword match
        taken back)."""
        total = (torch.logaddexp(self.ends_blank, self.ends_label) + self.extra).tolist()
        if self.fusion.active:
            total = [s + e for s, e in zip(total, self.fusion.final(self.lm_states))]
        if self.context_graph is not None:
            total = [s + self.context_graph.finalize(c) for s, c in zip(total, self.context_states)]
        hyps = [
            Hypothesis(list(p), list(f), s, token_log_probs=list(lp))
            for p, f, s, lp in zip(self.prefixes, self.frames, total, self.token_log_probs)
        ]
        return sorted(hyps, key=lambda h: h.score, reverse=True)

    def best(self) -> Hypothesis:
        return self.ranked()[0]


def ctc_prefix_beam_search(
    log_probs: Tensor,
    lengths: Tensor,
    *,
    beam: int = 4,
    blank: int = 0,
    tokens: list[str] | None = None,
    blank_penalty: float = 0.0,
    fusion: Fusion | None = None,
    context_graph: ContextGraph | None = None,
) -> list[Hypothesis]:
    """The standard CTC prefix beam search: keeps the ``beam`` most probable label prefixes,
    each with its probability of ending in blank and in its last label; returns the best one
    per utterance (:func:`ctc_prefix_beam_nbest` returns them all).

    Args:
        log_probs: (B, T, V); lengths: (B,).
        fusion, context_graph: LM and hotword scores added when a prefix grows (see
            :func:`continue_ctc_prefix_beam_search`).
    """
    nbest = ctc_prefix_beam_nbest(
        log_probs,
        lengths,
        beam=beam,
        blank=blank,
        blank_penalty=blank_penalty,
        fusion=fusion,
        context_graph=context_graph,
    )
    return with_text([hyps[0] for hyps in nbest], tokens)


@torch.no_grad()
def ctc_prefix_beam_nbest(
    log_probs: Tensor,
    lengths: Tensor,
    *,
    beam: int = 4,
    blank: int = 0,
    blank_penalty: float = 0.0,
    fusion: Fusion | None = None,
    context_graph: ContextGraph | None = None,
) -> list[list[Hypothesis]]:
    """CTC prefix beam search that returns every prefix left in the beam, best first.

    Args:
        log_probs: (B, T, V) CTC log-probabilities; lengths: (B,).
        beam: prefixes kept per frame (and returned).

    Returns:
        B lists of up to ``beam`` hypotheses; ``score`` = log P(prefix) summed over its
        alignments (plus LM and hotword scores), ``frames`` = the frame at which each label was
        first emitted.
    """
    states = [
        CtcBeamState.start(fusion=fusion, context_graph=context_graph)
        for _ in range(log_probs.shape[0])
    ]
    continue_ctc_prefix_beam_search(
        log_probs, lengths, states, beam=beam, blank=blank, blank_penalty=blank_penalty
    )
    return [s.ranked() for s in states]


@torch.no_grad()
def continue_ctc_prefix_beam_search(
    log_probs: Tensor,
    lengths: Tensor,
    states: list[CtcBeamState],
    *,
    beam: int = 4,
    blank: int = 0,
    blank_penalty: float = 0.0,
    frame_offsets: list[int] | None = None,
) -> None:
    """Advances each :class:`CtcBeamState` in place over more frames.

    Each frame is one set of tensor operations over every utterance's (K,) prefixes and
    (K, V) extensions: a prefix stays (blank, or its last label repeated) or grows by a label
    (after a blank if it repeats the last one); a growth that equals another kept prefix is
    merged into it; the ``beam`` best by probability + LM + hotword scores survive. Python
    only records the tokens of the survivors.

    Args:
        log_probs: (B, T, V) for the B states; lengths: (B,) frames of each to use.
        frame_offsets: added to the recorded frames of each state.
    """
    if beam < 1:
        raise ValueError(f"beam={beam} must be >= 1")
    if blank_penalty:
        log_probs = log_probs.clone()
        log_probs[..., blank] -= blank_penalty
    log_probs = log_probs.float()
    vocab = log_probs.shape[2]
    offsets = frame_offsets or [0] * len(states)
    lengths_l = lengths.tolist()
    inf = -math.inf
    for t in range(log_probs.shape[1]):
        active = [b for b, n in enumerate(lengths_l) if n > t]
        if not active:
            break
        width = max(len(states[b].prefixes) for b in active)
        size = (len(active), width)
        pb, pnb, extra = (torch.full(size, inf) for _ in range(3))
        last = torch.full(size, -1, dtype=torch.int64)
        for a, b in enumerate(active):
            s, k = states[b], len(states[b].prefixes)
            pb[a, :k], pnb[a, :k], extra[a, :k] = s.ends_blank, s.ends_label, s.extra
            last[a, :k] = torch.tensor([p[-1] if p else -1 for p in s.prefixes])
        frame = log_probs[active, t]  # (A, V)
        total = torch.logaddexp(pb, pnb)
        stay_blank = total + frame[:, blank : blank + 1]
        repeat = frame.gather(1, last.clamp(min=0))  # (A, K)
        stay_label = torch.where(last >= 0, pnb + repeat, torch.full_like(pnb, inf))
        is_last = torch.arange(vocab).view(1, 1, vocab) == last.unsqueeze(2)  # (A, K, V)
        grow = torch.where(is_last, pb.unsqueeze(2), total.unsqueeze(2)) + frame.unsqueeze(1)
        grow[:, :, blank] = inf
        bonus = _extension_scores(states, active, width, vocab, blank)  # (A, K, V) or None
        # A growth equal to another kept prefix joins it.
        for a, b in enumerate(active):
            index = {p: k for k, p in enumerate(states[b].prefixes)}
            for j, p in enumerate(states[b].prefixes):
                i = index.get(p[:-1]) if p else None
                if i is not None:
                    stay_label[a, j] = torch.logaddexp(stay_label[a, j], grow[a, i, p[-1]])
                    grow[a, i, p[-1]] = inf
        stay_rank = torch.logaddexp(stay_blank, stay_label) + extra
        grow_rank = grow + extra.unsqueeze(2)
        if bonus is not None:
            grow_rank = grow_rank + bonus
        ranks = torch.cat((stay_rank, grow_rank.flatten(1)), dim=1)  # (A, K + K V)
        top = ranks.topk(min(beam, ranks.shape[1]), dim=1)
        picks = top.indices.tolist()
        keep = top.values > inf
        # The values the survivors need, gathered at once.
        g = (top.indices - width).clamp(min=0)
        src, label = g // vocab, g % vocab
        is_stay = top.indices < width
        stay_src = top.indices.clamp(max=width - 1)
        new_pb = torch.where(
            is_stay, stay_blank.gather(1, stay_src), torch.full_like(pb[:, :1], inf)
        )
        grown = grow.flatten(1).gather(1, g.clamp(max=width * vocab - 1))
        new_pnb = torch.where(is_stay, stay_label.gather(1, stay_src), grown)
        step_extra = torch.zeros_like(top.values)
        if bonus is not None:
            step_extra = bonus.flatten(1).gather(1, g.clamp(max=width * vocab - 1))
        new_extra = torch.where(
            is_stay,
            extra.gather(1, stay_src),
            extra.gather(1, src.clamp(max=width - 1)) + step_extra,
        )
        label_lp = frame.gather(1, label).tolist()
        for a, b in enumerate(active):
            s = states[b]
            kept = [k for k in range(len(picks[a])) if bool(keep[a, k])]
            prefixes, frames, lps, lm_states, ctx = [], [], [], [], []
            for k in kept:
                index = picks[a][k]
                if index < width:
                    prefixes.append(s.prefixes[index])
                    frames.append(s.frames[index])
                    lps.append(s.token_log_probs[index])
                    lm_states.append(s.lm_states[index])
                    ctx.append(s.context_states[index])
                    continue
                i, c = divmod(index - width, vocab)
                prefixes.append(s.prefixes[i] + (c,))
                frames.append(s.frames[i] + (offsets[b] + t,))
                lps.append(s.token_log_probs[i] + (label_lp[a][k],))
                fusion = s.fusion
                lm_states.append(
                    fusion.advance(s.lm_states[i], c) if fusion.active else s.lm_states[i]
                )
                graph = s.context_graph
                ctx.append(graph.row(s.context_states[i], vocab)[1][c] if graph else 0)
            s.prefixes, s.frames, s.token_log_probs = prefixes, frames, lps
            s.lm_states, s.context_states = lm_states, ctx
            s.ends_blank, s.ends_label = new_pb[a, kept], new_pnb[a, kept]
            s.extra = new_extra[a, kept]


def _extension_scores(
    states: list[CtcBeamState], active: list[int], width: int, vocab: int, blank: int
) -> Tensor | None:
    """(A, K, V) LM and hotword scores of growing each prefix by each label, or None."""
    if not any(states[b].fusion.active or states[b].context_graph for b in active):
        return None
    out = torch.zeros(len(active), width, vocab)
    for a, b in enumerate(active):
        s, k = states[b], len(states[b].prefixes)
        if s.fusion.active:
            out[a, :k] += s.fusion.scores(s.lm_states).float()
        if s.context_graph is not None:
            rows = [s.context_graph.row(c, vocab)[0] for c in s.context_states]
            out[a, :k] += torch.stack(rows)
    out[:, :, blank] = 0.0
    return out
