"""Modified beam search for transducers (at most one token per frame), batched over utterances,
offline or continued chunk by chunk."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from zipasr.decoding.hypothesis import Hypothesis, with_text
from zipasr.models.asr import AsrModel

# A token sequence (with the start context) -> (log-probability, frames of its tokens).
Candidates = dict[tuple[int, ...], tuple[float, tuple[int, ...]]]


@dataclass
class BeamState:
    """The sequences kept for one utterance or stream, and how many start symbols they carry."""

    candidates: Candidates
    context_size: int

    @classmethod
    def start(cls, context_size: int, blank: int) -> BeamState:
        return cls({(-1,) * (context_size - 1) + (blank,): (0.0, ())}, context_size)

    def best(self, length_norm: bool = True) -> Hypothesis:
        """The most probable sequence; with ``length_norm``, per symbol (counting the start
        context, as icefall does)."""
        seq, (score, frames) = max(
            self.candidates.items(),
            key=lambda item: item[1][0] / len(item[0]) if length_norm else item[1][0],
        )
        return Hypothesis(list(seq[self.context_size :]), list(frames), score)


@torch.no_grad()
def modified_beam_search(
    model: AsrModel,
    encoder_out: Tensor,
    encoder_lengths: Tensor,
    *,
    beam: int = 4,
    blank_penalty: float = 0.0,
    length_norm: bool = True,
) -> list[Hypothesis]:
    """Keeps the ``beam`` best token sequences of each utterance, frame by frame.

    At every frame each kept sequence may stay (blank) or grow by one token; the ``beam`` best
    extensions over all of an utterance's sequences survive, and extensions that produce the
    same tokens are merged (their probabilities added). The decoder and joiner run once per
    frame for all sequences of all utterances.

    Args:
        model: a model with a transducer head.
        encoder_out: (B, T, C); encoder_lengths: (B,).
        beam: sequences kept per utterance.
        blank_penalty: subtracted from the blank logit.
        length_norm: pick the final sequence by log-probability per symbol (see
            :meth:`BeamState.best`) rather than by log-probability.

    Returns:
        The best :class:`Hypothesis` per utterance; its score is the merged log-probability.
    """
    head = model._transducer()
    states = [
        BeamState.start(head.config.context_size, model.blank_id)
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
    """Advances each :class:`BeamState` in place over more encoder frames (streaming)."""
    if beam < 1:
        raise ValueError(f"beam={beam} must be >= 1")
    head = model._transducer()
    blank, context = model.blank_id, head.config.context_size
    device = encoder_out.device
    enc = head.joiner.project_encoder(encoder_out)  # (B, T, J)
    offsets = frame_offsets or [0] * enc.shape[0]
    lengths = encoder_lengths.tolist()
    for t in range(enc.shape[1]):
        active = [b for b, n in enumerate(lengths) if n > t]
        if not active:
            break
        seqs = [(b, seq) for b in active for seq in states[b].candidates]
        contexts = torch.tensor([seq[-context:] for _, seq in seqs], device=device)
        dec = head.joiner.project_decoder(head.decoder(contexts, need_pad=False)).squeeze(1)
        rows = torch.tensor([b for b, _ in seqs], device=device)
        logits = head.joiner(enc[rows, t], dec, project_input=False)  # (N, V)
        if blank_penalty:
            logits[:, blank] -= blank_penalty
        prior = torch.tensor([states[b].candidates[seq][0] for b, seq in seqs], device=device)
        scores = logits.log_softmax(dim=-1) + prior.unsqueeze(1)
        vocab = scores.shape[1]
        first = 0
        for b in active:
            old = states[b].candidates
            flat = scores[first : first + len(old)].flatten()
            top = flat.topk(min(beam, flat.numel()))
            merged: Candidates = {}
            for value, index in zip(top.values.tolist(), top.indices.tolist()):
                seq = seqs[first + index // vocab][1]
                frames = old[seq][1]
                token = index % vocab
                if token != blank:
                    seq, frames = seq + (token,), frames + (offsets[b] + t,)
                if seq in merged:  # same tokens by another path: add up, keep the first's frames
                    value, frames = _log_add(merged[seq][0], value), merged[seq][1]
                merged[seq] = (value, frames)
            states[b].candidates = merged
            first += len(old)


def _log_add(a: float, b: float) -> float:
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))
