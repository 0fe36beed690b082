"""Modified beam search for transducers (at most one token per frame), batched over utterances."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zipasr.decoding.hypothesis import Hypothesis, with_text
from zipasr.models.asr import AsrModel


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
        length_norm: pick the final sequence by log-probability per token (counting the
            ``context_size`` start symbols, as icefall does) rather than by log-probability.

    Returns:
        The best :class:`Hypothesis` per utterance; its score is the merged log-probability.
    """
    if beam < 1:
        raise ValueError(f"beam={beam} must be >= 1")
    head = model._transducer()
    blank, context = model.blank_id, head.config.context_size
    device = encoder_out.device
    enc = head.joiner.project_encoder(encoder_out)  # (B, T, J)
    start = (-1,) * (context - 1) + (blank,)
    # Per utterance: token sequence (with the start context) -> (log-prob, frames)
    beams: list[dict[tuple[int, ...], tuple[float, tuple[int, ...]]]] = [
        {start: (0.0, ())} for _ in range(enc.shape[0])
    ]
    lengths = encoder_lengths.tolist()
    for t in range(enc.shape[1]):
        active = [b for b, n in enumerate(lengths) if n > t]
        if not active:
            break
        seqs = [(b, seq) for b in active for seq in beams[b]]
        contexts = torch.tensor([seq[-context:] for _, seq in seqs], device=device)
        dec = head.joiner.project_decoder(head.decoder(contexts, need_pad=False)).squeeze(1)
        rows = torch.tensor([b for b, _ in seqs], device=device)
        logits = head.joiner(enc[rows, t], dec, project_input=False)  # (N, V)
        if blank_penalty:
            logits[:, blank] -= blank_penalty
        prior = torch.tensor([beams[b][seq][0] for b, seq in seqs], device=device)
        scores = logits.log_softmax(dim=-1) + prior.unsqueeze(1)
        vocab = scores.shape[1]
        first = 0
        for b in active:
            count = len(beams[b])
            candidates = scores[first : first + count].flatten()
            top = candidates.topk(min(beam, candidates.numel()))
            merged: dict[tuple[int, ...], tuple[float, tuple[int, ...]]] = {}
            for value, index in zip(top.values.tolist(), top.indices.tolist()):
                seq = seqs[first + index // vocab][1]
                frames = beams[b][seq][1]
                token = index % vocab
                if token != blank:
                    seq, frames = seq + (token,), frames + (t,)
                if seq in merged:  # same tokens by another path: add up, keep the first's frames
                    value, frames = _log_add(merged[seq][0], value), merged[seq][1]
                merged[seq] = (value, frames)
            beams[b] = merged
            first += count
    hyps = []
    for candidates in beams:
        seq, (score, frames) = max(
            candidates.items(),
            key=lambda item: item[1][0] / len(item[0]) if length_norm else item[1][0],
        )
        hyps.append(Hypothesis(list(seq[context:]), list(frames), score))
    return with_text(hyps, model.tokens)


def _log_add(a: float, b: float) -> float:
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))
