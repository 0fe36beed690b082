"""The result of decoding one utterance."""

from __future__ import annotations

from dataclasses import dataclass, field

from zipasr.frontend import OUTPUT_FRAME_SHIFT_S
from zipasr.text import WORD_BOUNDARY
from zipasr.text import tokens_to_text as text_of_tokens

__all__ = ["WORD_BOUNDARY", "Hypothesis", "tokens_to_text", "with_text"]


@dataclass
class Hypothesis:
    """Decoded tokens with their encoder frames and the total log-probability.

    Attributes:
        tokens: token ids, blanks removed.
        frames: for each token, the encoder output frame (25 Hz) at which it was emitted.
        score: total log-probability of the path (or of the prefix, for beam searches), plus
            the language model, LODR and hotword scores when they are used.
        text: the tokens as text, when the model has a token table.
        token_log_probs: for each token, the model's log-probability of it where it was
            emitted (transducer: the joiner's; CTC: the frame's), without LM or hotword scores.
    """

    tokens: list[int] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    score: float = 0.0
    text: str | None = None
    token_log_probs: list[float] = field(default_factory=list)

    @property
    def timestamps_s(self) -> list[float]:
        """Emission time of each token, in seconds from the start of the audio."""
        return [round(f * OUTPUT_FRAME_SHIFT_S, 4) for f in self.frames]


def tokens_to_text(tokens: list[int], table: list[str]) -> str:
    """Joins pieces into text: the boundary marker becomes a space; byte-level BPE tables are
    byte-decoded; CJK characters are not separated (:func:`zipasr.text.tokens_to_text`)."""
    return text_of_tokens(tokens, table)


def with_text(hyps: list[Hypothesis], table: list[str] | None) -> list[Hypothesis]:
    if table is not None:
        for h in hyps:
            h.text = tokens_to_text(h.tokens, table)
    return hyps
