"""Shallow fusion and LODR: what a language model adds to a search's scores.

A token's fused score is ``log P_model + lm_scale * log P_lm - lodr_scale * log P_lodr``:
shallow fusion adds an external LM; LODR (low-order density ratio) also subtracts a low-order
n-gram (typically a bigram) estimated on the model's training transcripts, which stands in for
the internal language model the transducer learned from them, so that the external LM replaces
rather than doubles it. icefall's recipe writes the LODR weight as a negative scale added; here
``lodr_scale`` is positive and subtracted.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from zipasr.decoding.lm import LmScorer

#: The LM states of one hypothesis: (external LM's, LODR LM's); None for a missing LM.
LmStates = tuple[Hashable, Hashable]


@dataclass(frozen=True)
class Fusion:
    """The language models of a search and their weights.

    A scale of 0 turns its LM off: the search then runs exactly as without it (bit-identical
    output), and a missing LM with a non-zero scale is an error.
    """

    lm: LmScorer | None = None
    lm_scale: float = 0.0
    lodr: LmScorer | None = None
    lodr_scale: float = 0.0
    #: Whether any LM is used (an attribute: the searches ask once per token).
    on: bool = field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        for name, lm, scale in (
            ("lm", self.lm, self.lm_scale),
            ("lodr", self.lodr, self.lodr_scale),
        ):
            if scale < 0:
                raise ValueError(f"{name}_scale={scale} must be >= 0")
            if scale and lm is None:
                raise ValueError(f"{name}_scale={scale} without a {name} language model")
        object.__setattr__(self, "on", bool(self.lm_scale or self.lodr_scale))

    @property
    def _lm(self) -> LmScorer | None:
        return self.lm if self.lm_scale else None

    @property
    def _lodr(self) -> LmScorer | None:
        return self.lodr if self.lodr_scale else None

    @property
    def active(self) -> bool:
        return self.on

    def start(self) -> LmStates:
        lm, lodr = self._lm, self._lodr
        return (
            lm.initial_state() if lm is not None else None,
            lodr.initial_state() if lodr is not None else None,
        )

    def advance(self, states: LmStates, token: int) -> LmStates:
        lm, lodr = self._lm, self._lodr
        return (
            lm.advance(states[0], token) if lm is not None else None,
            lodr.advance(states[1], token) if lodr is not None else None,
        )

    def scores(self, states: Sequence[LmStates]) -> Tensor:
        """(N,) hypotheses' LM states -> (N, V) what each next token adds (0 for none)."""
        total: Tensor | float = 0.0
        lm, lodr = self._lm, self._lodr
        if lm is not None:
            total = self.lm_scale * lm.score([s[0] for s in states])
        if lodr is not None:
            total = total - self.lodr_scale * lodr.score([s[1] for s in states])
        assert isinstance(total, Tensor), "scores() of an inactive Fusion"
        return total

    def final(self, states: Sequence[LmStates]) -> list[float]:
        """What ending the sentence adds to each hypothesis (``</s>`` after its tokens)."""
        total = torch.zeros(len(states))
        lm, lodr = self._lm, self._lodr
        if lm is not None:
            total += self.lm_scale * lm.final_score([s[0] for s in states])
        if lodr is not None:
            total -= self.lodr_scale * lodr.final_score([s[1] for s in states])
        return total.tolist()
