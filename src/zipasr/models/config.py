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
class AttentionDecoderConfig:
    """The attention-based decoder (AED) head: a Transformer decoder over the encoder output,
    trained with label-smoothed cross-entropy next to CTC and used to rescore n-best lists.

    The defaults are the icefall recipe's (``--attention-decoder-*`` of zipformer/train.py).

    Attributes:
        dim: D, the decoder's embedding and residual width.
        num_layers: decoder layers (self-attention, cross-attention, feed-forward each).
        attention_dim: total query/key/value width of each attention (``num_heads`` heads).
        num_heads: attention heads.
        feedforward_dim: hidden width of the feed-forward modules.
        sos_id, eos_id: the start and end symbols (icefall's ``<sos/eos>``, id 1 in the token
            tables zipasr and icefall train).
    """

    dim: int = 512
    num_layers: int = 6
    attention_dim: int = 512
    num_heads: int = 8
    feedforward_dim: int = 2048
    sos_id: int = 1
    eos_id: int = 1

    def __post_init__(self) -> None:
        for name in ("dim", "num_layers", "attention_dim", "num_heads", "feedforward_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"attention_decoder.{name}={getattr(self, name)} must be >= 1")
        if self.attention_dim % self.num_heads:
            raise ValueError(
                f"attention_decoder.attention_dim={self.attention_dim} must be a multiple of "
                f"num_heads={self.num_heads}"
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
        attention_decoder: the attention-decoder head, or None (the default) for none. It
            needs no other head but is trained, as in the recipe, next to CTC.
    """

    encoder: ZipformerConfig = dataclasses.field(default_factory=ZipformerConfig)
    vocab_size: int = 500
    transducer: TransducerConfig | None = dataclasses.field(default_factory=TransducerConfig)
    ctc: bool = False
    blank_id: int = 0
    attention_decoder: AttentionDecoderConfig | None = None

    def __post_init__(self) -> None:
        if self.transducer is None and not self.ctc:
            raise ValueError("a model needs a transducer head, a CTC head, or both")
        if not 0 <= self.blank_id < self.vocab_size:
            raise ValueError(
                f"blank_id={self.blank_id} must be in [0, vocab_size={self.vocab_size})"
            )
        aed = self.attention_decoder
        if aed is not None:
            for name in ("sos_id", "eos_id"):
                value = getattr(aed, name)
                if not 0 <= value < self.vocab_size or value == self.blank_id:
                    raise ValueError(
                        f"attention_decoder.{name}={value} must be a token id in "
                        f"[0, vocab_size={self.vocab_size}) other than blank_id={self.blank_id}"
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
        if data.get("attention_decoder") is not None:
            data["attention_decoder"] = AttentionDecoderConfig(**data["attention_decoder"])
        return cls(**data)
