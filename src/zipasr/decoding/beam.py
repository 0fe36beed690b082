"""Modified beam search for transducers (at most one token per frame), batched over utterances,
offline or continued chunk by chunk, with optional LM fusion (:class:`Fusion`) and hotwords
(:class:`ContextGraph`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from zipasr.decoding.context import ContextGraph
from zipasr.decoding.fusion import Fusion, LmStates
from zipasr.decoding.hypothesis import Hypothesis, with_text
from zipasr.models.asr import AsrModel


class Path(NamedTuple):
    """One sequence in the beam.

    Attributes:
        score: what the beam ranks by: ``log_prob`` plus LM and hotword scores.
        log_prob: the model's log-probability of the sequence (all its alignments merged).
        frames, token_log_probs: per token, where it was emitted and its log-probability there.
        lm_states: the LM states after the sequence (see :class:`Fusion`).
        context_state: the hotword graph's node after the sequence.
    """

    score: float
    log_prob: float = 0.0
    frames: tuple[int, ...] = ()
    token_log_probs: tuple[float, ...] = ()
    lm_states: LmStates = (None, None)
    context_state: int = 0


@dataclass
class BeamState:
    """The sequences kept for one utterance or stream (each with its start context of
    ``context_size`` symbols), and the hotwords it is biased towards."""

    candidates: dict[tuple[int, ...], Path]
    context_size: int
    context_graph: ContextGraph | None = None
    fusion: Fusion = field(default_factory=Fusion)

    @classmethod
    def start(
        cls,
        context_size: int,
        blank: int,
        *,
        fusion: Fusion | None = None,
        context_graph: ContextGraph | None = None,
    ) -> BeamState:
        fusion = fusion or Fusion()
        first = (-1,) * (context_size - 1) + (blank,)
        path = Path(0.0, lm_states=fusion.start())
        return cls({first: path}, context_size, context_graph, fusion)

    def ranked(self) -> list[Hypothesis]:
        """Every sequence, best first, with the hotword bonus of an unfinished match taken
        back and the LM's end-of-sentence score added (``score``)."""
        items = list(self.candidates.items())
        ends = self.fusion.final([p.lm_states for _, p in items]) if self.fusion.active else None
        hyps = []
        for k, (seq, path) in enumerate(items):
            score = path.score
            if self.context_graph is not None:
                score += self.context_graph.finalize(path.context_state)
            if ends is not None:
                score += ends[k]
            hyps.append(
                Hypothesis(
                    list(seq[self.context_size :]),
                    list(path.frames),
                    score,
                    token_log_probs=list(path.token_log_probs),
                )
            )
        return sorted(hyps, key=lambda h: h.score, reverse=True)

    def best(self, length_norm: bool = True) -> Hypothesis:
        """The best sequence; with ``length_norm``, by score per symbol (counting the start
        context, as icefall does)."""
        hyps = self.ranked()
        if not length_norm:
            return hyps[0]
        return max(hyps, key=lambda h: h.score / (len(h.tokens) + self.context_size))


@torch.no_grad()
def modified_beam_search(
    model: AsrModel,
    encoder_out: Tensor,
    encoder_lengths: Tensor,
    *,
    beam: int = 4,
    blank_penalty: float = 0.0,
    length_norm: bool = True,
    fusion: Fusion | None = None,
    context_graph: ContextGraph | None = None,
) -> list[Hypothesis]:
    """Keeps the ``beam`` best token sequences of each utterance, frame by frame.

    At every frame each kept sequence may stay (blank) or grow by one token; the ``beam`` best
    extensions over all of an utterance's sequences survive, and extensions that produce the
    same tokens are merged (their probabilities added). The decoder and joiner run once per
    frame for all sequences of all utterances, and the best extensions of every utterance are
    picked in one ``topk``.

    Args:
        model: a model with a transducer head.
        encoder_out: (B, T, C); encoder_lengths: (B,).
        beam: sequences kept per utterance.
        blank_penalty: subtracted from the blank logit.
        length_norm: pick the final sequence by score per symbol (see :meth:`BeamState.best`).
        fusion: language models added to each token's score (shallow fusion, LODR).
        context_graph: hotwords: a token's bonus is added to the score of the sequence it
            extends once the extension is in the beam (as icefall does: the bonus keeps a
            phrase in the beam rather than forcing its tokens in), and an unfinished match's
            bonus is taken back at the end.

    Returns:
        The best :class:`Hypothesis` per utterance; its score is the merged log-probability
        (plus the LM and hotword scores).
    """
    states = [
        BeamState.start(
            model.context_size, model.blank_id, fusion=fusion, context_graph=context_graph
        )
        for _ in range(encoder_out.shape[0])
    ]
    continue_beam_search(
        model, encoder_out, encoder_lengths, states, beam=beam, blank_penalty=blank_penalty
    )
    return with_text([s.best(length_norm) for s in states], model.tokens)


@torch.no_grad()
def continue_beam_search(
    model: AsrModel,
    encoder_out: Tensor,
    encoder_lengths: Tensor,
    states: list[BeamState],
    *,
    beam: int = 4,
    blank_penalty: float = 0.0,
    frame_offsets: list[int] | None = None,
) -> None:
    """Advances each :class:`BeamState` in place over more encoder frames (streaming).

    Args:
        encoder_out: (B, T, C) for the B states; encoder_lengths: (B,) frames of each to use.
        frame_offsets: added to the recorded frames of each state (frames before this chunk).
    """
    if beam < 1:
        raise ValueError(f"beam={beam} must be >= 1")
    blank, context = model.blank_id, model.context_size
    device = encoder_out.device
    enc = model.project_encoder(encoder_out)  # (B, T, J)
    offsets = frame_offsets or [0] * enc.shape[0]
    lengths = encoder_lengths.tolist()
    vocab = model.config.vocab_size
    pad_context = (-1,) * (context - 1) + (blank,)
    active: list[int] = []
    for t in range(enc.shape[1]):
        now = [b for b, n in enumerate(lengths) if n > t]
        if not now:
            break
        if now != active:
            active = now
            rows = torch.tensor(active, device=device).repeat_interleave(beam)
            shift = (torch.arange(len(active), device=device) * (beam * vocab))[:, None]
            biased = any(states[b].fusion.active for b in active)
        # Every active utterance's sequences, padded to `beam` rows (prior -inf), so that its
        # extensions are one row of a (A, beam * V) table.
        seqs: list[tuple[int, tuple[int, ...], Path]] = []
        for b in active:
            items = list(states[b].candidates.items())
            if len(items) > beam:  # (a state carried over from a wider beam)
                items = sorted(items, key=lambda kv: kv[1].score, reverse=True)[:beam]
            seqs += [(b, seq, path) for seq, path in items]
            if len(items) < beam:  # (its LM and hotword states, so that they can be scored)
                first = items[0][1]
                pad = Path(-math.inf, 0.0, (), (), first.lm_states, first.context_state)
                seqs += [(b, pad_context, pad)] * (beam - len(items))
        contexts = torch.tensor([seq[-context:] for _, seq, _ in seqs], device=device)
        logits = model.join(enc[rows, t], model.predict_projected(contexts), False)  # (N, V)
        if blank_penalty:
            logits[:, blank] -= blank_penalty
        log_probs = logits.log_softmax(dim=-1)
        prior = torch.tensor([p.score for _, _, p in seqs], device=device)
        scores = log_probs + prior.unsqueeze(1)
        if biased:
            scores = _add_extras(scores, seqs, states, blank)
        top = scores.view(len(active), beam * vocab).topk(min(beam, vocab), dim=1)
        values, indices = top.values.tolist(), top.indices.tolist()
        picked_lp = log_probs.view(-1)[top.indices + shift].tolist()
        for a, b in enumerate(active):
            state = states[b]
            merged: dict[tuple[int, ...], Path] = {}
            for value, index, lp in zip(values[a], indices[a], picked_lp[a]):
                if value == -math.inf:
                    break
                _, seq, path = seqs[a * beam + index // vocab]
                token = index % vocab
                if token == blank:
                    new = Path(
                        value,
                        path.log_prob + lp,
                        path.frames,
                        path.token_log_probs,
                        path.lm_states,
                        path.context_state,
                    )
                else:
                    new = _extend(state, path, token, value, lp, offsets[b] + t, vocab)
                    seq = seq + (token,)
                old = merged.get(seq)
                if old is not None:  # same tokens by another path: add up, keep the first's
                    new = Path(
                        _log_add(old.score, new.score),
                        _log_add(old.log_prob, new.log_prob),
                        old.frames,
                        old.token_log_probs,
                        old.lm_states,
                        old.context_state,
                    )
                merged[seq] = new
            state.candidates = merged


def _add_extras(
    scores: Tensor, seqs: list[tuple[int, tuple[int, ...], Path]], states: list, blank: int
) -> Tensor:
    """``scores`` (N, V) plus each sequence's LM scores (none for blank)."""
    fused = [i for i, (b, _, _) in enumerate(seqs) if states[b].fusion.active]
    if not fused:
        return scores
    extra = torch.zeros_like(scores)
    fusion = states[seqs[fused[0]][0]].fusion
    extra[fused] = fusion.scores([seqs[i][2].lm_states for i in fused]).to(scores)
    extra[:, blank] = 0.0
    return scores + extra


def _extend(
    state: BeamState,
    path: Path,
    token: int,
    value: float,
    lp: float,
    frame: int,
    vocab: int,
) -> Path:
    context_state = path.context_state
    if state.context_graph is not None:  # the bonus counts once the token is in the beam
        bonus, context_state = state.context_graph.forward(path.context_state, token)[:2]
        value += bonus
    return Path(
        value,
        path.log_prob + lp,
        path.frames + (frame,),
        path.token_log_probs + (lp,),
        state.fusion.advance(path.lm_states, token) if state.fusion.on else path.lm_states,
        context_state,
    )


def _log_add(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))
