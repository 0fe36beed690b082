"""Word error rate, with the alignment details the field reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Alignment:
    """One utterance's word alignment: (reference word or None, hypothesis word or None) pairs."""

    pairs: list[tuple[str | None, str | None]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(r != h for r, h in self.pairs)


@dataclass
class WerStats:
    """Totals over a set of utterances. ``wer`` is (S + D + I) / N, in percent."""

    words: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return 100.0 * self.errors / max(self.words, 1)

    def __str__(self) -> str:
        return (
            f"WER {self.wer:.2f}% [{self.errors} / {self.words}, {self.insertions} ins, "
            f"{self.deletions} del, {self.substitutions} sub]"
        )


def align(reference: Sequence[str], hypothesis: Sequence[str]) -> Alignment:
    """Minimum-edit-distance alignment of two word sequences (Levenshtein, unit costs)."""
    n, m = len(reference), len(hypothesis)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            same = reference[i - 1] == hypothesis[j - 1]
            cost[i][j] = min(
                cost[i - 1][j - 1] + (0 if same else 1), cost[i - 1][j] + 1, cost[i][j - 1] + 1
            )
    pairs: list[tuple[str | None, str | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0:
            diagonal = cost[i - 1][j - 1] + (0 if reference[i - 1] == hypothesis[j - 1] else 1)
            if cost[i][j] == diagonal:
                pairs.append((reference[i - 1], hypothesis[j - 1]))
                i, j = i - 1, j - 1
                continue
        if i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            pairs.append((reference[i - 1], None))
            i -= 1
        else:
            pairs.append((None, hypothesis[j - 1]))
            j -= 1
    return Alignment(pairs[::-1])


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> WerStats:
    """WER of hypothesis texts against reference texts (split on whitespace)."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    stats = WerStats()
    for ref, hyp in zip(references, hypotheses):
        add(stats, align(ref.split(), hyp.split()))
    return stats


def add(stats: WerStats, alignment: Alignment) -> None:
    """Adds one utterance's alignment to running totals."""
    for r, h in alignment.pairs:
        if r is not None:
            stats.words += 1
        if r is None:
            stats.insertions += 1
        elif h is None:
            stats.deletions += 1
        elif r != h:
            stats.substitutions += 1
