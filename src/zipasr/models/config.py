"""Architecture of a complete recognizer: the encoder plus its output heads."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from zipasr.encoder.config import ZipformerConfig


@dataclass(frozen=True)
class TransducerConfig:
    """The transducer head: stateless decoder, joiner and the simple-loss projections.

    Attributes:
        decoder_dim: D, the decoder's embedding and output size.
        joiner_dim: J, the joiner's hidden size.
        context_size: tokens of left context the stateless decoder sees (2 in the recipe).
    """

    decoder_dim: int = 512
    joiner_dim: int = 512
    context_size: int = 2

    def __post_init__(self) -> None:
        if self.context_size < 1:
            raise ValueError(f"context_size={self.context_size} must be >= 1")
        if self.decoder_dim % 4:
            raise ValueError(
                f"decoder_dim={self.decoder_dim} must be a multiple of 4 (the context "
                "convolution has groups of 4 channels)"
            )


@dataclass(frozen=True)
class AsrModelConfig:
    """A Zipformer encoder with a transducer head, a CTC head, or both.

    Attributes:
        encoder: the encoder architecture.
        vocab_size: V, number of tokens including blank.
        transducer: the transducer head, or None for a CTC-only model.
        ctc: whether there is a CTC head.
        blank_id: the blank token (0 in icefall's token tables).
    """

    encoder: ZipformerConfig = dataclasses.field(default_factory=ZipformerConfig)
    vocab_size: int = 500
    transducer: TransducerConfig | None = dataclasses.field(default_factory=TransducerConfig)
    ctc: bool = False
    blank_id: int = 0

    def __post_init__(self) -> None:
        if self.transducer is None and not self.ctc:
            raise ValueError("a model needs a transducer head, a CTC head, or both")
        if not 0 <= self.blank_id < self.vocab_size:
            raise ValueError(
                f"blank_id={self.blank_id} must be in [0, vocab_size={self.vocab_size})"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable form (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AsrModelConfig:
        """Inverse of :meth:`to_dict`. Unknown keys are an error that names them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"unknown model config fields {sorted(unknown)}; known: {sorted(known)}"
            )
        data = dict(data)
        encoder = dict(data.get("encoder", {}))
        for key, value in encoder.items():
            if isinstance(value, list):
                encoder[key] = tuple(value)
        data["encoder"] = ZipformerConfig(**encoder)
        if data.get("transducer") is not None:
            data["transducer"] = TransducerConfig(**data["transducer"])
        return cls(**data)
