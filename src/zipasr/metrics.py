"""Error rates (word, character, mixed), with the alignment details the field reports.

The units of each metric are :func:`zipasr.text.metric_units`'s: ``"wer"`` counts words,
``"cer"`` characters other than spaces (icefall's CER for Chinese), ``"mer"`` CJK characters and
words (icefall's bilingual recipes' mixed error rate).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from zipasr.text import metric_units


@dataclass
class Alignment:
    """One utterance's word alignment: (reference word or None, hypothesis word or None) pairs."""

    pairs: list[tuple[str | None, str | None]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(r != h for r, h in self.pairs)


@dataclass
class WerStats:
    """Totals over a set of utterances. ``wer`` is (S + D + I) / N, in percent, where N counts
    the metric's units (``words`` keeps its name whatever the unit is).

    Attributes:
        metric: ``"wer"``, ``"cer"`` or ``"mer"``; it names the rate when printed.
    """

    words: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    metric: str = "wer"

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        return 100.0 * self.errors / max(self.words, 1)

    def __str__(self) -> str:
        return (
            f"{self.metric.upper()} {self.wer:.2f}% [{self.errors} / {self.words}, "
            f"{self.insertions} ins, {self.deletions} del, {self.substitutions} sub]"
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
    return error_rate(references, hypotheses, "wer")


def error_rate(references: Sequence[str], hypotheses: Sequence[str], metric: str) -> WerStats:
    """The error rate ``metric`` (``"wer"``, ``"cer"`` or ``"mer"``) of hypothesis texts
    against reference texts.

    >>> str(error_rate(["今天天气很好"], ["今天天汽很好"], "cer"))
    'CER 16.67% [1 / 6, 0 ins, 0 del, 1 sub]'
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    stats = WerStats(metric=metric)
    for ref, hyp in zip(references, hypotheses):
        add(stats, align(metric_units(ref, metric), metric_units(hyp, metric)))
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


@dataclass
class ErrorCounts:
    """How often each substitution (reference unit, hypothesis unit), deletion and insertion
    occurred, over many alignments."""

    substitutions: Counter[tuple[str, str]] = field(default_factory=Counter)
    deletions: Counter[str] = field(default_factory=Counter)
    insertions: Counter[str] = field(default_factory=Counter)

    def add(self, alignment: Alignment) -> None:
        for r, h in alignment.pairs:
            if r is None and h is not None:
                self.insertions[h] += 1
            elif h is None and r is not None:
                self.deletions[r] += 1
            elif r != h and r is not None and h is not None:
                self.substitutions[(r, h)] += 1

    def report(self, top: int = 20) -> str:
        """The ``top`` most frequent of each kind, one per line (``count  ref -> hyp``)."""
        lines = [f"TOP SUBSTITUTIONS ({len(self.substitutions)} distinct): count  ref -> hyp"]
        lines += [f"{n:6d}  {r} -> {h}" for (r, h), n in self.substitutions.most_common(top)]
        lines.append(f"TOP DELETIONS ({len(self.deletions)} distinct): count  ref")
        lines += [f"{n:6d}  {r}" for r, n in self.deletions.most_common(top)]
        lines.append(f"TOP INSERTIONS ({len(self.insertions)} distinct): count  hyp")
        lines += [f"{n:6d}  {h}" for h, n in self.insertions.most_common(top)]
        return "\n".join(lines) + "\n"
