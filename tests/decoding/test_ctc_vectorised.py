"""The vectorised CTC prefix beam search gives exactly what the previous implementation (a
Python loop over the kept prefixes per frame, copied below as the reference) gave: the same
prefixes, scores, frames and token log-probabilities, best first, offline and chunk by chunk,
with and without an LM and hotwords."""

from __future__ import annotations

import math
import random

import pytest
import torch
from torch import Tensor

from zipasr.decoding import ContextGraph, Fusion, NgramLm, estimate_ngram, write_arpa
from zipasr.decoding.ctc import CtcBeamState, continue_ctc_prefix_beam_search

# ---- the implementation before issue 17b (the reference): verbatim but for its name and one
# fixed bug, marked FIXED ----


@torch.no_grad()
def old_continue(
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
        # FIXED here and below (the one change to the copy): the previous code grew a prefix
        # and merged growths using s.frames[i] / s.token_log_probs[i] after they may have been
        # rewritten by a merge at this same frame, which put two labels on one frame (and the
        # wrong log-probability on the earlier one); both now read them from before the frame.
        before = {b: (list(states[b].frames), list(states[b].token_log_probs)) for b in active}
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
            # FIXED (see `before` above).
            for k in (joining > staying).nonzero().flatten().tolist():
                b, j = divmod(into[k], width)
                i, c = divmod(parent[k] - b * width * vocab, vocab)
                s = states[b]
                s.frames[j] = before[b][0][i] + (offsets[b] + t,)
                s.token_log_probs[j] = before[b][1][i] + (float(frame[b, c]),)
            flat_label[target] = torch.logaddexp(staying, joining)
            flat_grow[source] = inf
        lm, bonus = old_extension_scores(states, active, width, vocab, blank)  # (B, K, V) or None
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
                frames.append(before[b][0][i] + (offsets[b] + t,))  # FIXED
                lps.append(before[b][1][i] + (label_lp[b][k],))  # FIXED
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


def old_extension_scores(
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


# ---- the checks ----


def _lm(tmp_path, vocab: int, seed: int) -> NgramLm:
    rng = random.Random(seed)
    pieces = [f"p{i}" for i in range(3, vocab)]
    sentences = [[rng.choice(pieces) for _ in range(rng.randint(1, 8))] for _ in range(60)]
    path = write_arpa(estimate_ngram(sentences, 3, pieces), tmp_path / f"lm{seed}.arpa")
    return NgramLm(path, ["<blk>", "<sos/eos>", "<unk>", *pieces])


def _graph(vocab: int, rng: random.Random) -> ContextGraph:
    phrases = [[rng.randrange(1, vocab) for _ in range(rng.randint(1, 4))] for _ in range(5)]
    return ContextGraph(phrases, 1.5, scores=[rng.choice([0.0, 0.7, 2.5]) for _ in phrases])


def _same(new: CtcBeamState, old: CtcBeamState) -> None:
    assert new.prefixes == old.prefixes
    assert new.frames == old.frames
    assert new.token_log_probs == old.token_log_probs
    assert new.lm_states == old.lm_states
    assert new.context_states == old.context_states
    for name in ("ends_blank", "ends_label", "extra"):
        assert torch.equal(getattr(new, name), getattr(old, name)), name
    for a, b in zip(new.ranked(), old.ranked(), strict=True):
        assert (a.tokens, a.frames, a.score, a.token_log_probs) == (
            b.tokens,
            b.frames,
            b.score,
            b.token_log_probs,
        )


def _compare(
    log_probs: Tensor,
    lengths: Tensor,
    beam: int,
    chunks: list[int],
    fusions: list[Fusion] | None = None,
    graphs: list[ContextGraph | None] | None = None,
    blank_penalty: float = 0.0,
) -> int:
    """Runs both implementations over the chunks; returns how many prefixes were compared."""
    batch = log_probs.shape[0]
    fusions = fusions or [Fusion()] * batch
    graphs = graphs or [None] * batch
    new = [CtcBeamState.start(fusion=f, context_graph=g) for f, g in zip(fusions, graphs)]
    old = [CtcBeamState.start(fusion=f, context_graph=g) for f, g in zip(fusions, graphs)]
    at, compared = 0, 0
    for size in chunks:
        part = log_probs[:, at : at + size]
        left = (lengths - at).clamp(min=0, max=size)
        kwargs = dict(beam=beam, blank_penalty=blank_penalty, frame_offsets=[at] * batch)
        continue_ctc_prefix_beam_search(part, left, new, **kwargs)  # type: ignore[arg-type]
        old_continue(part, left, old, **kwargs)  # type: ignore[arg-type]
        for a, b in zip(new, old):
            _same(a, b)
            compared += len(a.prefixes)
        at += size
    return compared


def _log_probs(batch: int, frames: int, vocab: int, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    peaky = torch.randn(batch, frames, vocab, generator=gen) * 4.0
    peaky[:, :, 0] += 3.0  # blank-heavy, as trained CTC models are
    return peaky.log_softmax(-1)


@pytest.mark.parametrize(
    ("batch", "beam", "vocab", "seed"),
    [(1, 1, 5, 0), (3, 4, 6, 1), (4, 8, 12, 2), (2, 16, 4, 3), (5, 6, 40, 4)],
)
def test_offline_equals_the_reference(batch, beam, vocab, seed):
    frames = 30
    log_probs = _log_probs(batch, frames, vocab, seed)
    lengths = torch.tensor([frames - 7 * (b % 3) for b in range(batch)])
    assert _compare(log_probs, lengths, beam, [frames]) >= batch
    # A blank penalty, and a beam wide enough that many growths merge into kept prefixes.
    _compare(log_probs, lengths, beam, [frames], blank_penalty=1.5)


@pytest.mark.parametrize(("batch", "beam", "vocab", "seed"), [(3, 4, 7, 5), (4, 5, 20, 6)])
def test_lm_and_hotwords_equal_the_reference(tmp_path, batch, beam, vocab, seed):
    rng = random.Random(seed)
    lm, lodr = _lm(tmp_path, vocab, seed), _lm(tmp_path, vocab, seed + 100)
    # Per utterance: fusion on (LM, LM + LODR) or off, its own hotwords, shared ones or none.
    fusions = [Fusion(lm, 0.4), Fusion(lm, 0.3, lodr, 0.2), Fusion(), Fusion(lm, 0.4)][:batch]
    shared = _graph(vocab, rng)
    graphs = [_graph(vocab, rng), shared, None, shared][:batch]
    frames = 36
    log_probs = _log_probs(batch, frames, vocab, seed)
    lengths = torch.tensor([frames, frames - 9, frames - 4, 13][:batch])
    _compare(log_probs, lengths, beam, [frames], fusions, graphs)
    # Only hotwords, and only an LM, for the whole batch.
    _compare(log_probs, lengths, beam, [frames], graphs=[shared] * batch)
    _compare(log_probs, lengths, beam, [frames], fusions=[fusions[1]] * batch)


@pytest.mark.parametrize("chunks", [[5, 5, 5, 5, 5, 5], [1, 8, 3, 18], [12, 0, 18]])
def test_chunk_by_chunk_equals_the_reference(tmp_path, chunks):
    rng = random.Random(7)
    vocab = 9
    lm = _lm(tmp_path, vocab, 7)
    graph = _graph(vocab, rng)
    log_probs = _log_probs(3, 30, vocab, 7)
    lengths = torch.tensor([30, 17, 3])
    _compare(log_probs, lengths, 4, chunks)
    _compare(log_probs, lengths, 4, chunks, [Fusion(lm, 0.5)] * 3, [graph, None, graph])


def test_merges_keep_the_likelier_paths_time_and_log_prob():
    # Frame 0: "a" (0.6) or blank (0.4); frame 1: "a" again. The prefix "a" then holds two
    # paths: "a a" (a repeat, emitted at 0) and "<blk> a" (emitted at 1), and the likelier
    # one's frame and log-prob are kept.
    for first in (0.6, 0.3):
        log_probs = torch.full((1, 2, 3), -30.0)
        log_probs[0, 0, 1], log_probs[0, 0, 0] = math.log(first), math.log(1 - first)
        log_probs[0, 1, 1] = 0.0
        new, old = CtcBeamState.start(), CtcBeamState.start()
        continue_ctc_prefix_beam_search(log_probs, torch.tensor([2]), [new], beam=3)
        old_continue(log_probs, torch.tensor([2]), [old], beam=3)
        _same(new, old)
        best = new.best()
        assert best.tokens == [1]
        assert best.frames == ([0] if first > 0.5 else [1])
        assert best.score == pytest.approx(0.0, abs=1e-6)


def test_one_label_per_frame_on_every_prefix():
    # The bug the reference's copy fixes: a prefix grown (or merged) from a prefix that merged
    # at the same frame got two labels on that frame. Frames must strictly increase.
    log_probs = _log_probs(3, 40, 6, 1)
    states = [CtcBeamState.start() for _ in range(3)]
    continue_ctc_prefix_beam_search(log_probs, torch.tensor([40, 33, 26]), states, beam=4)
    for s in states:
        for frames, prefix, lps in zip(s.frames, s.prefixes, s.token_log_probs):
            assert len(frames) == len(prefix) == len(lps)
            assert all(a < b for a, b in zip(frames, frames[1:])), frames


def test_prefix_keys_of_tuples_equal_the_grown_keys():
    from zipasr.decoding.ctc import _grow_key, _prefix_keys

    rng = random.Random(3)
    for _ in range(20):
        prefix = tuple(rng.randrange(0, 5000) for _ in range(rng.randint(1, 60)))
        key, parent = _prefix_keys(prefix)
        assert _prefix_keys(prefix[:-1])[0] == parent
        grown = _grow_key(torch.tensor([[parent]]), torch.tensor([[prefix[-1]]]))
        assert int(grown) == key
    assert _prefix_keys(())[1] == -1 and _prefix_keys((1,)) != _prefix_keys((2,))


def test_continuing_with_a_smaller_beam_keeps_that_many():
    log_probs = _log_probs(2, 20, 7, 9)
    states = [CtcBeamState.start() for _ in range(2)]
    continue_ctc_prefix_beam_search(log_probs[:, :10], torch.tensor([10, 10]), states, beam=6)
    assert [len(s.prefixes) for s in states] == [6, 6]
    continue_ctc_prefix_beam_search(
        log_probs[:, 10:], torch.tensor([10, 0]), states, beam=2, frame_offsets=[10, 10]
    )
    assert [len(s.prefixes) for s in states] == [2, 6]  # the second had no more frames
    for s in states:
        assert len(set(s.prefixes)) == len(s.prefixes)
        for frames in s.frames:
            assert all(a < b for a, b in zip(frames, frames[1:]))
