"""CTC decoding: greedy, and prefix beam search (batched over utterances and prefixes, with
optional LM fusion and hotwords), offline or continued chunk by chunk."""

from __future__ import annotations

import math
import weakref
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

    Each frame is one set of tensor operations over the (B, K) prefixes of every utterance and
    their (B, K, V) extensions: a prefix stays (blank, or its last label repeated) or grows by a
    label (after a blank if it repeats the last one); a growth that equals another kept prefix
    is merged into it; the ``beam`` best by probability + LM score survive, and a survivor's
    hotword bonus is added to its score from then on (icefall's order: a bonus does not bring
    a label into the beam, it keeps a phrase there).

    No Python runs per prefix and frame: a prefix is a (B, K) key (two polynomial hashes of its
    labels modulo two primes below 2**31, packed in an int64) with its parent's key and its
    length, so "prefix j = prefix i + its last label" is a (B, K, K) comparison; its labels,
    frames and log-probabilities are backpointers (source slot, emitted or not) per frame,
    followed back once at the end of the call; hotword states are graph nodes with (nodes, V)
    bonus and transition tables; LM states are ids into a table of (V,) LM scores, and only
    the survivors that grew move their LM state (through a dict of transitions: :class:`Fusion`
    states are Python objects). The tuples of :class:`CtcBeamState` are read at the start of
    the call and written at its end.

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
    lengths_l = [min(int(n), log_probs.shape[1]) for n in lengths.tolist()]
    steps = max(lengths_l)
    if steps <= 0:
        return
    inf = torch.tensor(-math.inf)  # a tensor: torch.where then makes no scalar per call
    # K = the widest beam; -inf where an utterance has fewer prefixes. The integer state of a
    # slot is one row of `ints` (B, K, 6): see _LAST.._NODE; "no last label" is V (a column of
    # -inf appended to the log-probs), and a slot that holds no prefix is `empty` (its keys
    # match no key).
    width = max(beam, max(len(s.prefixes) for s in states))
    pb, pnb, extra = (torch.full((batch, width), -math.inf) for _ in range(3))
    empty_row = torch.tensor([vocab, -2, -3, 0, 0, 0], dtype=torch.int64)
    ints = empty_row.repeat(batch, width, 1)
    lm = _LmTable(states, vocab, blank) if any(s.fusion.active for s in states) else None
    hot = _HotTable(states, vocab, blank) if any(s.context_graph for s in states) else None
    for b, s in enumerate(states):
        k = len(s.prefixes)
        pb[b, :k], pnb[b, :k], extra[b, :k] = s.ends_blank, s.ends_label, s.extra
        keys = [_prefix_keys(p) for p in s.prefixes]
        columns = [
            [p[-1] if p else vocab for p in s.prefixes],
            [own for own, _ in keys],
            [up for _, up in keys],
            [len(p) for p in s.prefixes],
            lm.intern(b, s.lm_states) if lm is not None else [0] * k,
            [c + hot.offsets[b] for c in s.context_states]
            if hot is not None and s.context_graph is not None
            else [0] * k,
        ]
        ints[b, :k] = torch.tensor(columns, dtype=torch.int64).T
    if lm is not None:
        lm.fill()
    # The last frame (exclusive) at which some running utterance uses an LM / hotwords.
    lm_until = max((n for s, n in zip(states, lengths_l) if s.fusion.active), default=0)
    hot_until = max((n for s, n in zip(states, lengths_l) if s.context_graph), default=0)
    # An utterance that ends before the others is saved as it is when it ends (its row then
    # goes on with the others, unused); `finished[t]` = the utterances that end at t.
    finished: dict[int, list[int]] = {}
    for b, n in enumerate(lengths_l):
        if n < steps:
            finished.setdefault(n, []).append(b)
    saved: dict[int, tuple[Tensor, ...]] = {}
    shortest = min(lengths_l)
    lengths_t = torch.tensor(lengths_l).unsqueeze(1)
    slots = torch.arange(width).expand(batch, width)
    labels = torch.arange(vocab).view(1, 1, vocab)
    no_emit = torch.zeros((batch, width), dtype=torch.bool)
    empty = empty_row.expand(batch, width, 6)
    padded = torch.cat(
        (log_probs, log_probs.new_full((batch, log_probs.shape[1], 1), -math.inf)), 2
    )
    # Per frame and slot: the slot it came from, whether it emitted its last label at this
    # frame (it grew, or merged with a likelier growth), and that label.
    history: list[tuple[Tensor, Tensor, Tensor]] = []
    for t in range(steps):
        for b in finished.get(t, ()):
            saved[b] = (pb[b], pnb[b], extra[b], ints[b])
        padded_frame = padded[:, t]  # (B, V + 1)
        frame = padded_frame[:, :vocab]  # (B, V)
        some_done = t >= shortest
        running = lengths_t > t  # (B, 1)
        last, key = ints[:, :, _LAST], ints[:, :, _KEY]
        total = torch.logaddexp(pb, pnb)
        stay_blank = total + frame[:, blank : blank + 1]
        stay_label = pnb + padded_frame.gather(1, last)  # -inf without a last label
        grow = torch.where(labels == last.unsqueeze(2), pb.unsqueeze(2), total.unsqueeze(2))
        grow = grow + frame.unsqueeze(1)  # (B, K, V)
        grow[:, :, blank] = inf
        # same[b, j, i]: prefix j is prefix i grown by j's last label; the growth joins j.
        size = ints[:, :, _SIZE]
        same = (ints[:, :, _PARENT].unsqueeze(2) == key.unsqueeze(1)) & (
            size.unsqueeze(2) == size.unsqueeze(1) + 1
        )
        if some_done:  # (finished utterances' rows are not used)
            same &= running.unsqueeze(2)
        pairs = same.view(-1).nonzero().squeeze(1)  # b*K*K + j*K + i, by utterance then j
        stay_src, stay_emit = slots, no_emit
        if pairs.numel():
            into, parent = pairs // width, pairs % width  # b*K + j, i
            source = (into - into % width + parent) * vocab + last.view(-1)[into]  # (b, i, c)
            flat_label, flat_grow = stay_label.view(-1), grow.view(-1)
            joining, staying = flat_grow[source], flat_label[into]
            # The label's time and log-probability follow the likelier of the two paths.
            better = joining > staying
            stay_src, stay_emit = slots.clone(), no_emit.clone()
            stay_src.view(-1)[into] = torch.where(better, parent, into % width)
            stay_emit.view(-1)[into] = better
            flat_label[into] = torch.logaddexp(staying, joining)
            flat_grow[source] = inf
        lm_scores = lm.table[ints[:, :, _LM]] if lm is not None and t < lm_until else None
        grow_extra = extra.unsqueeze(2) if lm_scores is None else extra.unsqueeze(2) + lm_scores
        ranks = torch.cat(
            (torch.logaddexp(stay_blank, stay_label) + extra, (grow + grow_extra).flatten(1)), 1
        )
        top = ranks.topk(width if width > beam else beam, dim=1)
        picks, values = top.indices, top.values  # (B, K)
        stay = picks < width
        src_stay = picks.clamp(max=width - 1)
        grown = (picks - width).clamp(min=0)
        src_grow, label_t = grown // vocab, grown % vocab
        new_pb = torch.where(stay, stay_blank.gather(1, src_stay), inf)
        new_pnb = torch.where(
            stay, stay_label.gather(1, src_stay), grow.flatten(1).gather(1, grown)
        )
        grown_extra = extra.gather(1, src_grow)
        if lm_scores is not None:
            grown_extra = grown_extra + lm_scores.flatten(1).gather(1, grown)
        from_ints = ints.gather(1, src_grow.unsqueeze(2).expand(-1, -1, 6))
        if hot is not None and t < hot_until:  # hotword bonuses count from here on
            grown_extra = grown_extra + hot.bonus[from_ints[:, :, _NODE], label_t]
        new_extra = torch.where(stay, extra.gather(1, src_stay), grown_extra)
        keep = values > inf
        if width > beam:
            keep &= slots < beam
        grew = keep & ~stay
        # The grown slots' integer state: label, key, parent key, length, LM id, node.
        from_key = from_ints[:, :, _KEY]
        grown_ints = torch.stack(
            (
                label_t,
                _grow_key(from_key, label_t),
                from_key,
                from_ints[:, :, _SIZE] + 1,
                from_ints[:, :, _LM]
                if lm is None
                else lm.advance(
                    from_ints[:, :, _LM], label_t, grew & running if some_done else grew
                ),
                from_ints[:, :, _NODE]
                if hot is None
                else hot.next[from_ints[:, :, _NODE], label_t],
            ),
            2,
        )
        stay_ints = ints.gather(1, src_stay.unsqueeze(2).expand(-1, -1, 6))
        ints = torch.where(
            keep.unsqueeze(2), torch.where(stay.unsqueeze(2), stay_ints, grown_ints), empty
        )
        pb, pnb = torch.where(keep, new_pb, inf), torch.where(keep, new_pnb, inf)
        extra = torch.where(keep, new_extra, inf)
        if stay_src is slots:
            src = torch.where(stay, src_stay, src_grow)
            emit = grew
        else:
            src = torch.where(stay, stay_src.gather(1, src_stay), src_grow)
            emit = torch.where(stay, stay_emit.gather(1, src_stay), keep)
        history.append((src, emit, ints[:, :, _LAST]))
    final = [saved.get(b) or (pb[b], pnb[b], extra[b], ints[b]) for b in range(batch)]
    _write_back(states, log_probs, lengths_l, history, final, lm, hot, frame_offsets)


def _write_back(
    states: list[CtcBeamState],
    log_probs: Tensor,
    lengths: list[int],
    history: list[tuple[Tensor, Tensor, Tensor]],
    final: list[tuple[Tensor, ...]],
    lm: _LmTable | None,
    hot: _HotTable | None,
    frame_offsets: list[int] | None,
) -> None:
    """Follows the backpointers of ``history`` (per frame: (B, K) source slots, whether the
    slot emitted its label there, and the label) from each utterance's kept slots at its last
    frame back to the slots they started from, and stores the prefixes in ``states``.

    Args:
        final: per utterance, its (K,) ends_blank, ends_label, extra and (K, 6) ints at its
            last frame.
    """
    batch, width = len(states), final[0][0].shape[0]
    steps = len(history)
    # (T, B, K) each; an utterance's frames after its end lead nowhere (each slot to itself).
    running = (torch.arange(steps).view(-1, 1) < torch.tensor(lengths)).unsqueeze(2)
    slots = torch.arange(width).expand(batch, width)
    src_t = torch.where(running, torch.stack([h[0] for h in history]), slots)
    emit_t = torch.stack([h[1] for h in history]) & running
    last_t = torch.stack([h[2] for h in history])
    at, path = slots, []
    for t in range(steps - 1, -1, -1):
        path.append(at)
        at = src_t[t].gather(1, at)
    path_t = torch.stack(path[::-1])  # (T, B, K): where slot k's prefix was after frame t
    emit_t = emit_t.gather(2, path_t).permute(1, 2, 0)  # (B, K, T): it grew at frame t
    last_t = last_t.gather(2, path_t).permute(1, 2, 0)
    hb, hk, ht = emit_t.nonzero(as_tuple=True)  # by utterance, slot, then frame
    label = last_t[hb, hk, ht]
    label_l = label.tolist()
    lp_l = log_probs[hb, ht, label].double().tolist()
    frame_l = ht.tolist()
    counts = emit_t.sum(2).tolist()
    roots = at.tolist()
    offsets = frame_offsets or [0] * batch
    start = 0
    for b, s in enumerate(states):
        pb, pnb, extra, rows = final[b]
        kept = int((rows[:, _KEY] >= 0).sum())  # the live slots come first (topk is sorted)
        ids, nodes = rows[:kept, _LM].tolist(), rows[:kept, _NODE].tolist()
        prefixes, frames, token_lps, lm_states, context = [], [], [], [], []
        for k in range(width):
            end = start + counts[b][k]
            if k < kept:
                root = roots[b][k]
                offset = offsets[b]
                prefixes.append(s.prefixes[root] + tuple(label_l[start:end]))
                frames.append(s.frames[root] + tuple(offset + t for t in frame_l[start:end]))
                token_lps.append(s.token_log_probs[root] + tuple(lp_l[start:end]))
                lm_states.append(lm.states[ids[k]] if lm is not None else s.lm_states[root])
                if hot is not None and s.context_graph is not None:
                    context.append(nodes[k] - hot.offsets[b])
                else:
                    context.append(0)
            start = end
        s.prefixes, s.frames, s.token_log_probs = prefixes, frames, token_lps
        s.lm_states, s.context_states = lm_states, context
        s.ends_blank, s.ends_label, s.extra = (
            pb[:kept].clone(),
            pnb[:kept].clone(),
            extra[:kept].clone(),
        )


# The columns of a slot's integer state: its last label (V: none), key, parent's key, length,
# LM state id, hotword node.
_LAST, _KEY, _PARENT, _SIZE, _LM, _NODE = range(6)

# A prefix's key: two polynomial hashes of its labels (h = h * base + label + 1 modulo a prime
# below 2**31, so that no product overflows int64), packed as h1 * 2**31 + h2. Two different
# prefixes of the same length in one beam share a key with probability about 2**-62 per pair.
_P1, _B1 = 2_147_483_647, 1_000_003
_P2, _B2 = 2_147_483_629, 999_983
_LOW = (1 << 31) - 1


def _grow_key(key: Tensor, label: Tensor) -> Tensor:
    """(B, K) keys of prefixes grown by (B, K) labels."""
    label = label + 1
    return ((key >> 31) * _B1 + label) % _P1 << 31 | ((key & _LOW) * _B2 + label) % _P2


def _prefix_keys(prefix: tuple[int, ...]) -> tuple[int, int]:
    """The key of a prefix and of its parent (-1 for the empty prefix), as :func:`_grow_key`."""
    key, parent = 0, -1
    for label in prefix:
        parent = key
        key = ((key >> 31) * _B1 + label + 1) % _P1 * (1 << 31) + (
            (key & _LOW) * _B2 + label + 1
        ) % _P2
    return key, parent


class _LmTable:
    """The LM states of a search as integer ids: ``table`` (N, V) holds what each next label
    adds to a prefix in state ``id`` (0 for blank; zeros for a state whose fusion is off), and
    moves between states are cached, so that only new (state, label) pairs call the LM."""

    def __init__(self, states: list[CtcBeamState], vocab: int, blank: int) -> None:
        self.vocab, self.blank = vocab, blank
        self.fusions: list[Fusion] = []
        owners: dict[int, int] = {}
        self.owner_of: list[int] = []  # per utterance: its fusion's index
        for s in states:
            index = owners.setdefault(id(s.fusion), len(self.fusions))
            if index == len(self.fusions):
                self.fusions.append(s.fusion)
            self.owner_of.append(index)
        self.ids: dict[tuple[int, LmStates], int] = {}
        self.states: list[LmStates] = []
        self.owners: list[int] = []
        self.moves: dict[int, int] = {}  # id * V + label -> id
        self.table = torch.zeros(0, vocab)
        self.filled = 0

    def intern(self, utterance: int, lm_states: list[LmStates]) -> list[int]:
        owner = self.owner_of[utterance]
        return [self._id(owner, state) for state in lm_states]

    def _id(self, owner: int, state: LmStates) -> int:
        found = self.ids.get((owner, state))
        if found is None:
            found = self.ids[(owner, state)] = len(self.states)
            self.states.append(state)
            self.owners.append(owner)
        return found

    def fill(self) -> None:
        """Computes the score rows of the ids added since the last call (one LM call per
        fusion)."""
        new = range(self.filled, len(self.states))
        if not new:
            return
        if len(self.states) > self.table.shape[0]:
            grown = torch.zeros(max(2 * self.table.shape[0], len(self.states), 64), self.vocab)
            grown[: self.filled] = self.table[: self.filled]
            self.table = grown
        for owner, fusion in enumerate(self.fusions):
            rows = [i for i in new if self.owners[i] == owner]
            if rows and fusion.active:
                scores = fusion.scores([self.states[i] for i in rows]).float()
                scores[:, self.blank] = 0.0
                self.table[rows] = scores
            elif rows:
                self.table[rows] = 0.0
        self.filled = len(self.states)

    def advance(self, ids: Tensor, labels: Tensor, where: Tensor) -> Tensor:
        """(B, K) ids of the states after ``labels``, where ``where``; ``ids`` elsewhere."""
        picked = where.nonzero(as_tuple=True)
        if not picked[0].numel():
            return ids
        moves = []
        for move in (ids[picked] * self.vocab + labels[picked]).tolist():
            to = self.moves.get(move)
            if to is None:
                at, label = divmod(move, self.vocab)
                owner = self.owners[at]
                fusion = self.fusions[owner]
                to = self._id(owner, fusion.advance(self.states[at], label)) if fusion.on else at
                self.moves[move] = to
            moves.append(to)
        self.fill()
        out = ids.clone()
        out[picked] = torch.tensor(moves, dtype=torch.int64)
        return out


class _HotTable:
    """The context graphs of a search as one table: node 0 stands for "no graph" (no bonus, no
    move), and graph g's nodes follow at ``offsets`` of its utterances. ``bonus`` (N, V) and
    ``next`` (N, V) are :meth:`ContextGraph.forward` from every node by every label (bonus 0
    for blank)."""

    def __init__(self, states: list[CtcBeamState], vocab: int, blank: int) -> None:
        graphs = [g for g in {id(s.context_graph): s.context_graph for s in states}.values() if g]
        tables = [_graph_table(g, vocab, blank) for g in graphs if g is not None]
        if len(tables) == 1:  # the usual case: no copy
            self.bonus, self.next = tables[0]
            starts = [1]
        else:  # node 0, then each graph's nodes (without its own node 0)
            starts, size = [], 1
            for bonus, _ in tables:
                starts.append(size)
                size += bonus.shape[0] - 1
            self.bonus = torch.cat([tables[0][0][:1]] + [bonus[1:] for bonus, _ in tables])
            self.next = torch.cat(
                [tables[0][1][:1]]
                + [
                    torch.where(move[1:] > 0, move[1:] - 1 + at, 0)
                    for (_, move), at in zip(tables, starts)
                ]
            )
        where = {id(g): at for g, at in zip(graphs, starts)}
        self.offsets = [where[id(s.context_graph)] if s.context_graph else 0 for s in states]


_GRAPH_TABLES: weakref.WeakKeyDictionary[ContextGraph, dict[tuple[int, int], tuple[Tensor, Tensor]]]
_GRAPH_TABLES = weakref.WeakKeyDictionary()


def _graph_table(graph: ContextGraph, vocab: int, blank: int) -> tuple[Tensor, Tensor]:
    """(1 + N, V) bonuses and next nodes of ``graph``'s N nodes, node n at row 1 + n, after a
    row 0 that stands for "no graph" (cached while the graph lives)."""
    cache = _GRAPH_TABLES.setdefault(graph, {})
    found = cache.get((vocab, blank))
    if found is None:
        bonus = torch.zeros(1 + len(graph), vocab)
        move = torch.zeros(1 + len(graph), vocab, dtype=torch.int64)
        for node in range(len(graph)):
            steps = [graph.forward(node, label) for label in range(vocab)]
            bonus[1 + node] = torch.tensor([step[0] for step in steps], dtype=torch.float32)
            move[1 + node] = torch.tensor([1 + step[1] for step in steps], dtype=torch.int64)
        bonus[:, blank] = 0.0
        found = cache[(vocab, blank)] = (bonus, move)
    return found
