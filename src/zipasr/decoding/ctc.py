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
        frames, token_log_probs: per prefix and token, where it was emitted on the likeliest
            path that reached the prefix (when two paths merge) and its log-probability there.
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
        emitted on the likeliest path.
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
    merged into it; the ``beam`` best by probability + LM score survive, and a survivor's
    hotword bonus is added to its score from then on (icefall's order: a bonus does not bring
    a label into the beam, it keeps a phrase there). Python only records the tokens of the
    survivors.

    Args:
        log_probs: (B, T, V) for the B states; lengths: (B,) frames of each to use.
        frame_offsets: added to the recorded frames of each state.
    """
    if beam < 1:
        raise ValueError(f"beam={beam} must be >= 1")
    if not states:
        return
    if blank_penalty:
        log_probs = log_probs.clone()
        log_probs[..., blank] -= blank_penalty
    log_probs = log_probs.float().cpu()
    batch, vocab = len(states), log_probs.shape[2]
    offsets = frame_offsets or [0] * batch
    lengths_l = [min(int(n), log_probs.shape[1]) for n in lengths.tolist()]
    inf = -math.inf
    # The states as (B, K) tensors for the frames of this call (K = the widest beam), -inf
    # where an utterance has fewer prefixes; written back at the end.
    width = max(beam, max(len(s.prefixes) for s in states))
    pb, pnb, extra = (torch.full((batch, width), inf) for _ in range(3))
    last = torch.full((batch, width), -1, dtype=torch.int64)
    for b, s in enumerate(states):
        k = len(s.prefixes)
        pb[b, :k], pnb[b, :k], extra[b, :k] = s.ends_blank, s.ends_label, s.extra
        last[b, :k] = torch.tensor([p[-1] if p else -1 for p in s.prefixes], dtype=torch.int64)
    labels = torch.arange(vocab).view(1, 1, vocab)
    rows = torch.arange(batch).unsqueeze(1)
    for t in range(log_probs.shape[1]):
        active = [b for b in range(batch) if lengths_l[b] > t]
        if not active:
            break
        frame = log_probs[:, t]  # (B, V)
        old_pb, old_pnb, old_extra, old_last = pb, pnb, extra, last
        total = torch.logaddexp(pb, pnb)
        stay_blank = total + frame[:, blank : blank + 1]
        stay_label = torch.where(last >= 0, pnb + frame.gather(1, last.clamp(min=0)), inf)
        grow = torch.where(labels == last.unsqueeze(2), pb.unsqueeze(2), total.unsqueeze(2))
        grow = grow + frame.unsqueeze(1)  # (B, K, V)
        grow[:, :, blank] = inf
        # A growth that equals another kept prefix joins it (found in Python, merged at once).
        into: list[int] = []
        parent: list[int] = []
        for b in active:
            prefixes = states[b].prefixes
            index = {p: k for k, p in enumerate(prefixes)}
            for j, p in enumerate(prefixes):
                i = index.get(p[:-1]) if p else None
                if i is not None:
                    into.append(b * width + j)
                    parent.append(b * width * vocab + i * vocab + p[-1])
        if into:
            target, source = torch.tensor(into), torch.tensor(parent)
            flat_label, flat_grow = stay_label.view(-1), grow.view(-1)
            joining, staying = flat_grow[source], flat_label[target]
            # The token's time and log-probability follow the likelier of the two paths.
            for k in (joining > staying).nonzero().flatten().tolist():
                b, j = divmod(into[k], width)
                i, c = divmod(parent[k] - b * width * vocab, vocab)
                s = states[b]
                s.frames[j] = s.frames[i] + (offsets[b] + t,)
                s.token_log_probs[j] = s.token_log_probs[i] + (float(frame[b, c]),)
            flat_label[target] = torch.logaddexp(staying, joining)
            flat_grow[source] = inf
        lm, bonus = _extension_scores(states, active, width, vocab, blank)  # (B, K, V) or None
        grow_extra = extra.unsqueeze(2) if lm is None else extra.unsqueeze(2) + lm
        ranks = torch.cat(
            (torch.logaddexp(stay_blank, stay_label) + extra, (grow + grow_extra).flatten(1)), 1
        )
        top = ranks.topk(beam, dim=1)  # (B, beam)
        picks, values = top.indices, top.values
        stay = picks < width
        src_stay = picks.clamp(max=width - 1)
        grown = (picks - width).clamp(min=0)
        src_grow, label_t = grown // vocab, grown % vocab
        new_pb = torch.where(stay, stay_blank.gather(1, src_stay), inf)
        new_pnb = torch.where(
            stay, stay_label.gather(1, src_stay), grow.flatten(1).gather(1, grown)
        )
        grown_extra = extra.gather(1, src_grow)
        if lm is not None:
            grown_extra = grown_extra + lm.flatten(1).gather(1, grown)
        if bonus is not None:  # hotword bonuses count from here on (as icefall's)
            grown_extra = grown_extra + bonus.flatten(1).gather(1, grown)
        new_extra = torch.where(stay, extra.gather(1, src_stay), grown_extra)
        new_last = torch.where(stay, last.gather(1, src_stay), label_t)
        keep = values > inf
        pb, pnb = torch.where(keep, new_pb, inf), torch.where(keep, new_pnb, inf)
        extra, last = torch.where(keep, new_extra, inf), torch.where(keep, new_last, -1)
        if len(active) < batch:  # finished utterances keep their prefixes
            done = torch.tensor([lengths_l[b] <= t for b in range(batch)]).unsqueeze(1)
            pb, pnb = torch.where(done, old_pb, pb), torch.where(done, old_pnb, pnb)
            extra = torch.where(done, old_extra, extra)
            last = torch.where(done, old_last, last)
        picks_l, keep_l = picks.tolist(), keep.tolist()
        label_lp = frame[rows, label_t].tolist()
        for b in active:
            s = states[b]
            prefixes, frames, lps, lm_states, ctx = [], [], [], [], []
            for k, index in enumerate(picks_l[b]):
                if not keep_l[b][k]:
                    break
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
                lps.append(s.token_log_probs[i] + (label_lp[b][k],))
                fusion = s.fusion
                lm_states.append(
                    fusion.advance(s.lm_states[i], c) if fusion.active else s.lm_states[i]
                )
                graph = s.context_graph
                ctx.append(graph.row(s.context_states[i], vocab)[1][c] if graph else 0)
            s.prefixes, s.frames, s.token_log_probs = prefixes, frames, lps
            s.lm_states, s.context_states = lm_states, ctx
        # Survivors come first in each row (topk is sorted), so row b's K_b live prefixes are
        # the first K_b columns, as the Python lists are.
    for b, s in enumerate(states):
        k = len(s.prefixes)
        s.ends_blank, s.ends_label, s.extra = (
            pb[b, :k].clone(),
            pnb[b, :k].clone(),
            extra[b, :k].clone(),
        )


def _extension_scores(
    states: list[CtcBeamState], active: list[int], width: int, vocab: int, blank: int
) -> tuple[Tensor | None, Tensor | None]:
    """(B, K, V) LM scores and hotword bonuses of growing each prefix by each label (None when
    no state has them)."""
    lm = bonus = None
    if any(states[b].fusion.active for b in active):
        lm = torch.zeros(len(states), width, vocab)
    if any(states[b].context_graph is not None for b in active):
        bonus = torch.zeros(len(states), width, vocab)
    for b in active:
        s, k = states[b], len(states[b].prefixes)
        if lm is not None and s.fusion.active:
            lm[b, :k] = s.fusion.scores(s.lm_states).float()
        if bonus is not None and s.context_graph is not None:
            bonus[b, :k] = torch.stack([s.context_graph.row(c, vocab)[0] for c in s.context_states])
    for scores in (lm, bonus):
        if scores is not None:
            scores[:, :, blank] = 0.0
    return lm, bonus
