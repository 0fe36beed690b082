"""Joining the tokens of two overlapping windows without duplicating or losing any.

Near its edges a window has little context, so the tokens it emits there are the least reliable.
:func:`merge_overlap` therefore aligns the two windows' tokens inside the shared stretch (same
token, emitted at about the same time) and splices at the matched token nearest the middle of
the stretch: tokens before it come from the first window, tokens after it from the second. When
nothing in the stretch matches, the splice is at the middle: the first window's tokens emitted
before it, the second's at or after it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Two emissions of the same token closer than this (seconds) may be the same spoken token.
MATCH_TOLERANCE_S = 0.25


@dataclass
class TimedTokens:
    """Tokens with their absolute emission times (seconds), in order, and optionally their
    log-probabilities (the search's ``Hypothesis.token_log_probs``)."""

    tokens: list[int]
    times: list[float]
    log_probs: list[float] | None = None


def merge_overlap(
    first: TimedTokens, second: TimedTokens, overlap_start: float, overlap_end: float
) -> tuple[TimedTokens, float]:
    """Joins two windows that share the audio between ``overlap_start`` and ``overlap_end``.

    Returns the joined tokens and the splice time: every token of the result before the splice
    came from ``first``, every one after it from ``second``.
    """
    a = [i for i, t in enumerate(first.times) if t >= overlap_start]
    b = [j for j, t in enumerate(second.times) if t < overlap_end]
    middle = (overlap_start + overlap_end) / 2
    pairs = _align(first, second, a, b)
    if pairs:
        i, j = min(pairs, key=lambda p: abs(first.times[p[0]] - middle))
        splice = first.times[i]
        tokens = first.tokens[: i + 1] + second.tokens[j + 1 :]
        times = first.times[: i + 1] + [max(t, splice) for t in second.times[j + 1 :]]
        lps = None
        if first.log_probs is not None and second.log_probs is not None:
            lps = first.log_probs[: i + 1] + second.log_probs[j + 1 :]
        return TimedTokens(tokens, times, lps), splice
    keep_a = [i for i, t in enumerate(first.times) if t < middle]
    keep_b = [j for j, t in enumerate(second.times) if t >= middle]
    tokens = [first.tokens[i] for i in keep_a] + [second.tokens[j] for j in keep_b]
    times = [first.times[i] for i in keep_a] + [second.times[j] for j in keep_b]
    lps = None
    if first.log_probs is not None and second.log_probs is not None:
        lps = [first.log_probs[i] for i in keep_a] + [second.log_probs[j] for j in keep_b]
    return TimedTokens(tokens, times, lps), middle


def _align(
    first: TimedTokens, second: TimedTokens, a: list[int], b: list[int]
) -> list[tuple[int, int]]:
    """The longest common subsequence of the tokens ``a`` of ``first`` and ``b`` of
    ``second``, counting only equal tokens emitted within :data:`MATCH_TOLERANCE_S`."""

    def same(i: int, j: int) -> bool:
        return (
            first.tokens[i] == second.tokens[j]
            and abs(first.times[i] - second.times[j]) <= MATCH_TOLERANCE_S
        )

    n, m = len(a), len(b)
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for x in range(n - 1, -1, -1):
        for y in range(m - 1, -1, -1):
            if same(a[x], b[y]):
                best[x][y] = best[x + 1][y + 1] + 1
            else:
                best[x][y] = max(best[x + 1][y], best[x][y + 1])
    pairs, x, y = [], 0, 0
    while x < n and y < m:
        if same(a[x], b[y]) and best[x][y] == best[x + 1][y + 1] + 1:
            pairs.append((a[x], b[y]))
            x, y = x + 1, y + 1
        elif best[x + 1][y] >= best[x][y + 1]:
            x += 1
        else:
            y += 1
    return pairs
