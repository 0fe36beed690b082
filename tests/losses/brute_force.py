"""Plain, obviously correct float64 references for the transducer losses: a double loop.

Nodes are (t, u): u tokens emitted, on frame t. From (t, u) a path emits token u + 1 (staying on
frame t) or the blank (moving to frame t + 1); it ends with the blank on the last frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

NEG_INF = float("-inf")


def logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    top = max(a, b)
    return top + math.log(math.exp(a - top) + math.exp(b - top))


def lattice_nll(
    log_prob: Callable[[int, int, int], float], symbols: list[int], frames: int, blank: int
) -> float:
    """-log P(symbols) where log_prob(t, u, token) is the node's log-probability of token."""
    tokens = len(symbols)
    alpha = [[NEG_INF] * (tokens + 1) for _ in range(frames)]
    alpha[0][0] = 0.0
    for t in range(frames):
        for u in range(tokens + 1):
            if t == 0 and u == 0:
                continue
            total = NEG_INF
            if t > 0:
                total = logaddexp(total, alpha[t - 1][u] + log_prob(t - 1, u, blank))
            if u > 0:
                total = logaddexp(total, alpha[t][u - 1] + log_prob(t, u - 1, symbols[u - 1]))
            alpha[t][u] = total
    return -(alpha[frames - 1][tokens] + log_prob(frames - 1, tokens, blank))


def full_nll(logits: torch.Tensor, symbols: list[int], frames: int, blank: int) -> float:
    """One utterance: logits (T, U+1, V), any dtype; computed in float64."""
    table = torch.log_softmax(logits.double(), dim=-1).tolist()
    return lattice_nll(lambda t, u, k: table[t][u][k], symbols, frames, blank)


def pruned_nll(
    logits: torch.Tensor, starts: list[int], symbols: list[int], frames: int, blank: int
) -> float:
    """One utterance: logits (T, R, V) for nodes starts[t] .. starts[t] + R - 1 on frame t."""
    table = torch.log_softmax(logits.double(), dim=-1).tolist()
    width = logits.shape[1]

    def log_prob(t: int, u: int, k: int) -> float:
        offset = u - starts[t]
        return table[t][offset][k] if 0 <= offset < width else NEG_INF

    return lattice_nll(log_prob, symbols, frames, blank)


def random_case(
    gen: torch.Generator, batch: int, frames: int, tokens: int, vocab: int, scale: float = 2.0
) -> dict[str, torch.Tensor]:
    """Random utterances with varied lengths; the first one spans the padded size."""
    frame_lengths = torch.randint(1, frames + 1, (batch,), generator=gen)
    target_lengths = torch.randint(0, tokens + 1, (batch,), generator=gen)
    frame_lengths[0], target_lengths[0] = frames, tokens
    return {
        "frame_lengths": frame_lengths,
        "target_lengths": target_lengths,
        "symbols": torch.randint(1, vocab, (batch, tokens), generator=gen),
        "logits": scale * torch.randn(batch, frames, tokens + 1, vocab, generator=gen),
        "am": scale * torch.randn(batch, frames, vocab, generator=gen),
        "lm": scale * torch.randn(batch, tokens + 1, vocab, generator=gen),
    }
