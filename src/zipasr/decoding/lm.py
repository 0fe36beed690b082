"""Token-level language models for shallow fusion and LODR: the :class:`LmScorer` protocol, an
n-gram model read from an ARPA file (:class:`NgramLm`), and the estimation of one from text
(:func:`estimate_ngram`, behind ``zipasr train-lm``).

The words of these n-grams are the acoustic model's own tokens (its ``tokens.txt`` pieces), so
the searches score a token the moment they emit it. Log-probabilities are natural logs (ARPA
files store log10; they are converted on reading).
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from zipasr.files import write_text_atomically

#: The lowest log-probability a scorer returns: a token the LM gives no probability (-inf, or
#: ARPA's -99 for ``<s>``) scores this instead, so that fused scores stay finite and a
#: difference of two LM scores (LODR) is never ``-inf - -inf = NaN``.
MIN_LOG_PROB = -30.0

SENTENCE_START, SENTENCE_END, UNKNOWN = "<s>", "</s>", "<unk>"
_LN10 = math.log(10.0)


class LmScorer(Protocol):
    """What the searches need from a language model over the acoustic model's token ids.

    A state is any hashable value standing for the tokens scored so far. ``score`` is batched:
    the searches call it once per frame for every hypothesis they hold.
    """

    def initial_state(self) -> Hashable:
        """The state before the first token (after the sentence start)."""
        ...

    def score(self, states: Sequence[Hashable]) -> Tensor:
        """(N,) states -> (N, V) log-probabilities of every token id next, each at least
        :data:`MIN_LOG_PROB` (the blank's column is ignored by the searches)."""
        ...

    def advance(self, state: Hashable, token: int) -> Hashable:
        """The state after ``token`` follows ``state``."""
        ...

    def final_score(self, states: Sequence[Hashable]) -> Tensor:
        """(N,) log-probabilities of ending the sentence after each state."""
        ...


class NgramLm:
    """A backoff n-gram model over token ids, read from an ARPA file.

    The ARPA words are token pieces; each is mapped to its id in ``tokens`` (the model's token
    table). Pieces of the file that the table lacks are ignored; tokens the file lacks score as
    ``<unk>`` if the file has it, else :data:`MIN_LOG_PROB`.

    The state is the last ``order - 1`` tokens (with ``<s>`` at the start). The distribution of
    the next token for a context is built once, as a (V,) tensor, and cached: lower order plus
    the context's backoff weight, with the n-grams the file lists for the context written over
    it.

    Args:
        path: the ARPA file (plain text).
        tokens: the acoustic model's token table (index = id).
    """

    def __init__(self, path: str | os.PathLike[str], tokens: Sequence[str]) -> None:
        self.path = Path(path)
        self.vocab_size = len(tokens)
        ids = {piece: i for i, piece in enumerate(tokens)}
        self._start, self._end = -1, -2  # ids of <s> and </s> inside contexts
        ids[SENTENCE_START], ids[SENTENCE_END] = self._start, self._end
        # context (tuple of ids) -> {next id: ln prob}; context -> ln backoff weight
        self._probs: dict[tuple[int, ...], dict[int, float]] = defaultdict(dict)
        self._backoff: dict[tuple[int, ...], float] = {}
        self.order = 0
        unknown: float | None = None
        for words, log10_prob, log10_backoff in _read_arpa(self.path):
            self.order = max(self.order, len(words))
            if len(words) == 1 and words[0] == UNKNOWN and UNKNOWN not in ids:
                unknown = log10_prob * _LN10
                continue
            if any(w not in ids for w in words):
                continue  # a piece this model does not have
            key = tuple(ids[w] for w in words)
            self._probs[key[:-1]][key[-1]] = log10_prob * _LN10
            if log10_backoff is not None:
                self._backoff[key] = log10_backoff * _LN10
        if self.order == 0:
            raise ValueError(f"{self.path}: no n-grams found (is it an ARPA file?)")
        floor = MIN_LOG_PROB if unknown is None else max(unknown, MIN_LOG_PROB)
        unigrams = torch.full((self.vocab_size,), floor, dtype=torch.float64)
        for token, lp in self._probs[()].items():
            if token >= 0:
                unigrams[token] = max(lp, MIN_LOG_PROB)
        self._end_unigram = max(self._probs[()].get(self._end, MIN_LOG_PROB), MIN_LOG_PROB)
        self._cache: dict[tuple[int, ...], Tensor] = {(): unigrams}

    def initial_state(self) -> tuple[int, ...]:
        return (self._start,) if self.order > 1 else ()

    def advance(self, state: Hashable, token: int) -> tuple[int, ...]:
        assert isinstance(state, tuple)
        if self.order == 1:
            return ()
        return (*state, token)[-(self.order - 1) :]

    def score(self, states: Sequence[Hashable]) -> Tensor:
        return torch.stack([self._distribution(s) for s in states]).to(torch.float32)  # type: ignore[arg-type]

    def final_score(self, states: Sequence[Hashable]) -> Tensor:
        return torch.tensor([self._end_score(s) for s in states], dtype=torch.float32)  # type: ignore[arg-type]

    def sentence_score(self, tokens: Sequence[int], *, end: bool = True) -> float:
        """Total ln-probability of a token sequence (and of ending it, with ``end``)."""
        state, total = self.initial_state(), 0.0
        for token in tokens:
            total += float(self._distribution(state)[token])
            state = self.advance(state, token)
        return total + (self._end_score(state) if end else 0.0)

    def _distribution(self, context: tuple[int, ...]) -> Tensor:
        cached = self._cache.get(context)
        if cached is not None:
            return cached
        dist = self._distribution(context[1:]) + self._backoff.get(context, 0.0)
        listed = self._probs.get(context)
        if listed:
            for token, lp in listed.items():
                if token >= 0:
                    dist[token] = lp
        dist = dist.clamp(min=MIN_LOG_PROB)
        self._cache[context] = dist
        return dist

    def _end_score(self, context: tuple[int, ...]) -> float:
        backoff = 0.0
        for k in range(len(context) + 1):
            ctx = context[k:]
            listed = self._probs.get(ctx)
            if listed is not None and self._end in listed:
                return max(backoff + listed[self._end], MIN_LOG_PROB)
            backoff += self._backoff.get(ctx, 0.0)
        return max(backoff + self._end_unigram, MIN_LOG_PROB)


def _read_arpa(path: Path) -> Iterable[tuple[list[str], float, float | None]]:
    """(words, log10 prob, log10 backoff or None) of every n-gram of an ARPA file."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as error:
        raise OSError(f"cannot read the language model {path}: {error.strerror}") from None
    with handle:
        order, seen_data = 0, False
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            if line == "\\data\\":
                seen_data = True
                continue
            if line.startswith("\\") and line.endswith("-grams:"):
                order = int(line[1:].split("-")[0])
                continue
            if line == "\\end\\":
                return
            if not seen_data or order == 0 or line.startswith("ngram "):
                continue
            fields = line.split()
            if len(fields) not in (order + 1, order + 2):
                raise ValueError(f"{path}:{number}: expected {order} words in {line!r}")
            try:
                prob = float(fields[0])
                backoff = float(fields[order + 1]) if len(fields) == order + 2 else None
            except ValueError:
                raise ValueError(f"{path}:{number}: not a number in {line!r}") from None
            yield fields[1 : order + 1], prob, backoff
    if not seen_data:
        raise ValueError(f"{path}: not an ARPA file (no \\data\\ section)")


def estimate_ngram(
    sentences: Iterable[Sequence[str]], order: int, vocabulary: Sequence[str]
) -> dict[tuple[str, ...], tuple[float, float | None]]:
    """Interpolated Kneser-Ney n-gram estimate (one discount per order, from the counts of
    counts), as ARPA entries: words -> (log10 prob, log10 backoff or None).

    Lower orders use continuation counts (the number of distinct words seen before), except for
    n-grams that start with ``<s>``, which nothing precedes; the unigrams are interpolated with
    the uniform distribution over ``vocabulary`` (plus ``</s>``), so every token has a
    probability. An n-gram's ARPA probability is its interpolated probability and a context's
    backoff weight is its interpolation weight, which makes backing off exact.

    Args:
        sentences: token pieces of each sentence (without ``<s>``/``</s>``).
        order: n, at least 1.
        vocabulary: every piece the model can emit (blank and ``<s>`` excluded by the caller).
    """
    if order < 1:
        raise ValueError(f"order={order} must be at least 1")
    counts: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(order + 1)]
    n_sentences = 0
    for pieces in sentences:
        n_sentences += 1
        words = [SENTENCE_START, *pieces, SENTENCE_END]
        for n in range(1, order + 1):
            for i in range(len(words) - n + 1):
                counts[n][tuple(words[i : i + n])] += 1
    del counts[1][(SENTENCE_START,)]
    if n_sentences == 0:
        raise ValueError("no sentences to estimate a language model from")
    # What each order's probabilities are made of: raw counts for the highest order and for
    # n-grams starting with <s> (nothing precedes them); else the number of distinct tokens
    # seen before the n-gram (its continuation count).
    used: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(order + 1)]
    used[order] = counts[order]
    for n in range(1, order):
        for gram in counts[n + 1]:
            used[n][gram[1:]] += 1
        for gram, c in counts[n].items():
            if gram[0] == SENTENCE_START:
                used[n][gram] = c
    discounts = [0.0] * (order + 1)
    for n in range(1, order + 1):
        n1 = sum(1 for c in used[n].values() if c == 1)
        n2 = sum(1 for c in used[n].values() if c == 2)
        discounts[n] = n1 / (n1 + 2 * n2) if n1 and n2 else 0.5
    # Unigrams, interpolated with the uniform distribution.
    vocab = sorted({*vocabulary, SENTENCE_END, *(g[0] for g in used[1])} - {SENTENCE_START})
    total = sum(used[1].values())
    uniform = discounts[1] * len(used[1]) / total / len(vocab)
    probs: dict[tuple[str, ...], float] = {}
    for word in vocab:
        probs[(word,)] = max(used[1].get((word,), 0) - discounts[1], 0.0) / total + uniform
    # Higher orders, each interpolated with the order below; a context's weight on the order
    # below is its ARPA backoff weight.
    backoffs: dict[tuple[str, ...], float] = {}
    for n in range(2, order + 1):
        totals: Counter[tuple[str, ...]] = Counter()
        types: Counter[tuple[str, ...]] = Counter()
        for gram, c in used[n].items():
            totals[gram[:-1]] += c
            types[gram[:-1]] += 1
        for context, c in totals.items():
            backoffs[context] = discounts[n] * types[context] / c
        for gram, c in used[n].items():
            context = gram[:-1]
            probs[gram] = (c - discounts[n]) / totals[context] + backoffs[context] * probs[gram[1:]]
    entries: dict[tuple[str, ...], tuple[float, float | None]] = {
        gram: (math.log10(p), None) for gram, p in probs.items()
    }
    entries[(SENTENCE_START,)] = (-99.0, None)
    for context, weight in backoffs.items():
        entries[context] = (entries[context][0], math.log10(weight))
    return entries


def write_arpa(
    entries: dict[tuple[str, ...], tuple[float, float | None]], path: str | os.PathLike[str]
) -> Path:
    """Writes ARPA entries (words -> (log10 prob, log10 backoff or None)) atomically."""
    path = Path(path)
    by_order: dict[int, list[tuple[tuple[str, ...], tuple[float, float | None]]]] = defaultdict(
        list
    )
    for words, value in entries.items():
        by_order[len(words)].append((words, value))
    lines = ["", "\\data\\"]
    orders = sorted(by_order)
    lines += [f"ngram {n}={len(by_order[n])}" for n in orders]
    for n in orders:
        lines += ["", f"\\{n}-grams:"]
        for words, (prob, backoff) in sorted(by_order[n]):
            line = f"{prob:.6f}\t{' '.join(words)}"
            if backoff is not None:
                line += f"\t{backoff:.6f}"
            lines.append(line)
    lines += ["", "\\end\\", ""]
    return write_text_atomically(path, "\n".join(lines))
