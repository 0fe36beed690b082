"""Contextual biasing (hotwords): a context graph over token ids.

The graph is an Aho-Corasick automaton: a trie of the phrases' token sequences, where every node
also has a *fail* link to the longest proper suffix of its path that is a path from the root,
and an *output* link to the nearest phrase end on its fail chain. A hypothesis carries a node;
each token it emits moves it along the trie and earns a bonus. A partial match that breaks
falls back along the fail links, and the bonus of the tokens that no longer match is taken
back, so only completed phrases keep their bonus (:meth:`ContextGraph.finalize` takes back what
an unfinished match holds at the end).

The scores are those of icefall's and sherpa-onnx's context graphs (checked against the
``zipformer`` package's on random phrase sets: ``tools/make_context_graph_fixtures.py``),
including how shared prefixes of phrases with different scores are scored (each shared node
takes the largest score of the phrases through it).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

ROOT = 0


@dataclass
class _Node:
    token: int
    token_score: float  # bonus for reaching this node from its parent
    node_score: float  # bonus accumulated from the root to here
    output_score: float  # bonus of all phrases that end here (this node and its outputs)
    is_end: bool
    depth: int
    phrase: str = ""
    fail: int = ROOT
    output: int | None = None  # nearest phrase end on the fail chain


class ContextGraph:
    """The phrases to boost, as token id sequences, with a bonus per matched token.

    Args:
        phrases: token ids of each phrase.
        score: the default bonus per token (``context_score`` in icefall).
        scores: a bonus per token for each phrase; 0 (or None) takes ``score``.
        texts: the phrases as text (kept for reporting matches).

    Example:
        >>> graph = ContextGraph([[5, 6], [6]], score=1.0)
        >>> bonus, state, _ = graph.forward(graph.root, 5)
        >>> bonus
        1.0
    """

    def __init__(
        self,
        phrases: Sequence[Sequence[int]],
        score: float = 1.0,
        *,
        scores: Sequence[float] | None = None,
        texts: Sequence[str] | None = None,
    ) -> None:
        if scores is not None and len(scores) != len(phrases):
            raise ValueError(f"{len(scores)} scores for {len(phrases)} phrases")
        if texts is not None and len(texts) != len(phrases):
            raise ValueError(f"{len(texts)} texts for {len(phrases)} phrases")
        self.score = score
        self.nodes = [_Node(-1, 0.0, 0.0, 0.0, False, 0)]
        self.children: list[dict[int, int]] = [{}]
        for k, tokens in enumerate(phrases):
            if not tokens:
                raise ValueError(f"phrase {k} has no tokens")
            own = scores[k] if scores is not None and scores[k] != 0.0 else score
            self._insert(list(tokens), own, texts[k] if texts is not None else "")
        self._link()
        self._rows: dict[tuple[int, int], tuple[Tensor, list[int]]] = {}

    @property
    def root(self) -> int:
        return ROOT

    def __len__(self) -> int:
        """Number of nodes, the root included."""
        return len(self.nodes)

    def _insert(self, tokens: list[int], bonus: float, text: str) -> None:
        at = ROOT
        last = len(tokens) - 1
        for i, token in enumerate(tokens):
            parent = self.nodes[at]
            child = self.children[at].get(token)
            if child is None:
                node_score = parent.node_score + bonus
                child = len(self.nodes)
                self.nodes.append(
                    _Node(
                        token,
                        bonus,
                        node_score,
                        node_score if i == last else 0.0,
                        i == last,
                        i + 1,
                        text if i == last else "",
                    )
                )
                self.children.append({})
                self.children[at][token] = child
            else:  # a shared node: the larger bonus, re-accumulated from this parent
                node = self.nodes[child]
                node.token_score = max(bonus, node.token_score)
                node.node_score = parent.node_score + node.token_score
                node.is_end = node.is_end or i == last
                node.output_score = node.node_score if node.is_end else 0.0
                if i == last:
                    node.phrase = text
            at = child

    def _link(self) -> None:
        """Fail and output links, breadth first (a node's links point to shallower nodes)."""
        queue = deque(self.children[ROOT].values())
        while queue:
            at = queue.popleft()
            node = self.nodes[at]
            for token, child in self.children[at].items():
                target = self.nodes[child]
                target.fail = self._step(node.fail, token) if at != ROOT else ROOT
                out = target.fail
                while out != ROOT and not self.nodes[out].is_end:
                    out = self.nodes[out].fail
                target.output = None if out == ROOT else out
                if target.output is not None:
                    target.output_score += self.nodes[target.output].output_score
                queue.append(child)

    def _step(self, at: int, token: int) -> int:
        """The node ``token`` leads to from ``at`` following fail links (the root if none)."""
        while True:
            child = self.children[at].get(token)
            if child is not None:
                return child
            if at == ROOT:
                return ROOT
            at = self.nodes[at].fail

    def forward(
        self, state: int, token: int, strict: bool = False
    ) -> tuple[float, int, int | None]:
        """One emitted token: (bonus, next state, the longest phrase ending here or None).

        The bonus is the next node's token bonus if the trie continues with ``token``; else the
        difference of accumulated bonuses between where the fail links lead and ``state``
        (negative: the broken match's bonus is taken back), plus the bonus of every phrase
        completed here.

        Args:
            state: the hypothesis's node (``graph.root`` at the start).
            strict: keep matching after a phrase completes (longer phrases, overlapping ones)
                and count every phrase that ends here; with False (the searches' choice, as in
                icefall's modified beam search) a completed phrase sends the state back to the
                root.
        """
        child = self.children[state].get(token)
        if child is not None:
            at, bonus = child, self.nodes[child].token_score
        else:
            at = self._step(self.nodes[state].fail, token)
            bonus = self.nodes[at].node_score - self.nodes[state].node_score
        node = self.nodes[at]
        matched = at if node.is_end else node.output
        if not strict and node.output_score != 0.0:
            assert matched is not None
            done = node.node_score if node.is_end else self.nodes[matched].node_score
            return bonus + done - node.node_score, ROOT, matched
        return bonus + node.output_score, at, matched

    def row(self, state: int, vocab_size: int) -> tuple[Tensor, list[int]]:
        """:meth:`forward` (not strict) from ``state`` for every token id at once: the (V,)
        bonuses and the V next states. Cached per state; the searches add the row to the
        scores of every extension of a hypothesis in ``state``."""
        key = (state, vocab_size)
        cached = self._rows.get(key)
        if cached is None:
            steps = [self.forward(state, token) for token in range(vocab_size)]
            bonus = torch.tensor([s[0] for s in steps], dtype=torch.float32)
            cached = (bonus, [s[1] for s in steps])
            self._rows[key] = cached
        return cached

    def finalize(self, state: int) -> float:
        """The bonus to take back at the end of a hypothesis that stops in ``state`` (minus the
        accumulated bonus of the unfinished match; 0 at the root)."""
        return -self.nodes[state].node_score

    def phrase(self, state: int) -> str:
        return self.nodes[state].phrase


def parse_hotwords(lines: Sequence[str], *, where: str = "hotwords") -> list[tuple[str, float]]:
    """Phrases and their own bonus (0.0 = the default) from sherpa-onnx's hotwords format: one
    phrase per line, optionally followed by `` :SCORE``; blank lines are skipped.

    Raises:
        ValueError: a line whose ``:SCORE`` is not a number, or which has no phrase.
    """
    out = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        phrase, score = line, 0.0
        head, sep, tail = line.rpartition(" :")
        if sep:
            try:
                score = float(tail)
            except ValueError:
                raise ValueError(f"{where}:{number}: {tail!r} after ' :' is not a score") from None
            phrase = head.strip()
        if not phrase:
            raise ValueError(f"{where}:{number}: no phrase before the score")
        out.append((phrase, score))
    return out


def load_hotwords(
    path: str | os.PathLike[str], encode: Callable[[str], list[int]], score: float = 1.5
) -> ContextGraph:
    """A :class:`ContextGraph` of the phrases in a hotwords file (:func:`parse_hotwords`).

    Args:
        path: the file (UTF-8).
        encode: a phrase's token ids (the model's tokenizer).
        score: the bonus per token of phrases without their own.

    Raises:
        ValueError: a malformed line, an empty file, or a phrase with no tokens (named).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise OSError(f"cannot read the hotwords file {path}: {error.strerror}") from None
    entries = parse_hotwords(text.splitlines(), where=str(path))
    if not entries:
        raise ValueError(f"{path}: no hotwords in the file")
    phrases = []
    for phrase, _ in entries:
        ids = encode(phrase)
        if not ids:
            raise ValueError(f"{path}: the phrase {phrase!r} has no tokens")
        phrases.append(ids)
    return ContextGraph(
        phrases, score, scores=[s for _, s in entries], texts=[p for p, _ in entries]
    )
