"""Batched greedy search for transducers, offline or continued chunk by chunk."""

from __future__ import annotations

import torch
from torch import Tensor

from zipasr.decoding.hypothesis import Hypothesis, with_text
from zipasr.models.asr import AsrModel


@torch.no_grad()
def greedy_search(
    model: AsrModel,
    encoder_out: Tensor,
    encoder_lengths: Tensor,
    *,
    max_symbols_per_frame: int = 1,
    blank_penalty: float = 0.0,
) -> list[Hypothesis]:
    """Picks the most likely token at every step, all utterances at once.

    At each encoder frame the joiner scores the current decoder state; a non-blank argmax is
    emitted and the decoder advanced, up to ``max_symbols_per_frame`` times per frame (1 in
    the recipe), then the next frame.

    Args:
        model: a model with a transducer head.
        encoder_out: (B, T, C) from :meth:`AsrModel.encode`.
        encoder_lengths: (B,) valid frames.
        blank_penalty: subtracted from the blank logit (> 0 favours emitting tokens).

    Returns:
        One :class:`Hypothesis` per utterance (with text when the model has tokens); its score
        is the log-probability of the emitted tokens.
    """
    hyps = [Hypothesis() for _ in range(encoder_out.shape[0])]
    continue_greedy_search(
        model,
        encoder_out,
        encoder_lengths,
        hyps,
        max_symbols_per_frame=max_symbols_per_frame,
        blank_penalty=blank_penalty,
    )
    return with_text(hyps, model.tokens)


@torch.no_grad()
def continue_greedy_search(
    model: AsrModel,
    encoder_out: Tensor,
    encoder_lengths: Tensor,
    hyps: list[Hypothesis],
    *,
    frame_offsets: list[int] | None = None,
    max_symbols_per_frame: int = 1,
    blank_penalty: float = 0.0,
) -> None:
    """Extends ``hyps`` in place with the tokens of more encoder frames (streaming).

    The decoder context of each hypothesis is its last tokens, so a hypothesis can be carried
    from one chunk to the next. ``frame_offsets`` (default 0) is added to the frames recorded
    for each utterance, so that they count from the start of the stream.
    """
    if max_symbols_per_frame < 1:
        raise ValueError(f"max_symbols_per_frame={max_symbols_per_frame} must be >= 1")
    head = model._transducer()
    blank, context = model.blank_id, head.config.context_size
    batch, frames, _ = encoder_out.shape
    offsets = frame_offsets or [0] * batch
    start = [-1] * (context - 1) + [blank]
    contexts = torch.tensor(
        [(start + h.tokens)[-context:] for h in hyps], dtype=torch.int64, device=encoder_out.device
    )
    dec = head.joiner.project_decoder(head.decoder(contexts, need_pad=False)).squeeze(1)
    enc = head.joiner.project_encoder(encoder_out)  # (B, T, J)
    lengths = encoder_lengths.to(enc.device)
    for t in range(frames):
        active = lengths > t
        for _ in range(max_symbols_per_frame):
            logits = head.joiner(enc[:, t], dec, project_input=False)  # (B, V)
            if blank_penalty:
                logits[:, blank] -= blank_penalty
            log_probs = logits.log_softmax(dim=-1)
            best = logits.argmax(dim=-1)
            emit = active & (best != blank)
            if not bool(emit.any()):
                break
            for i in emit.nonzero().flatten().tolist():
                token = int(best[i])
                hyps[i].tokens.append(token)
                hyps[i].frames.append(offsets[i] + t)
                hyps[i].score += float(log_probs[i, token])
            contexts = torch.where(
                emit.unsqueeze(1), torch.cat((contexts[:, 1:], best.unsqueeze(1)), dim=1), contexts
            )
            new_dec = head.joiner.project_decoder(head.decoder(contexts, need_pad=False)).squeeze(1)
            dec = torch.where(emit.unsqueeze(1), new_dec, dec)
