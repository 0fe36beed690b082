"""AsrModel: the Zipformer encoder composed with a transducer head, a CTC head, or both."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from zipasr.encoder.zipformer import Zipformer
from zipasr.models.config import AsrModelConfig
from zipasr.models.ctc import CtcHead
from zipasr.models.transducer import TransducerHead
from zipasr.nn.schedule import TrainingClock


@dataclass
class AsrLosses:
    """Losses of one batch, each summed over utterances (the recipe's reduction), or None when
    the model has no such head.

    Attributes:
        simple: the smoothed "simple" RNN-T loss (transducer).
        pruned: the pruned RNN-T loss (transducer).
        ctc: the CTC loss.
        num_frames: total encoder output frames of the batch, for normalising.
    """

    simple: Tensor | None
    pruned: Tensor | None
    ctc: Tensor | None
    num_frames: int


class AsrModel(nn.Module):
    """A speech recognizer: :class:`Zipformer` encoder + transducer and/or CTC heads.

    The methods are the primitives that losses and decoders are built from:
    :meth:`encode`, :meth:`predict`, :meth:`join` and :meth:`ctc_log_probs`.

    Args:
        config: the architecture.
        tokens: the token table (index = id), kept with the model for decoding and export.
        clock: the training clock (a new one if None); ``model.clock``.
    """

    def __init__(
        self,
        config: AsrModelConfig,
        *,
        tokens: list[str] | None = None,
        clock: TrainingClock | None = None,
    ) -> None:
        super().__init__()
        if tokens is not None and len(tokens) != config.vocab_size:
            raise ValueError(
                f"the token table has {len(tokens)} entries but vocab_size={config.vocab_size}"
            )
        self.config = config
        self.tokens = tokens
        self.encoder = Zipformer(config.encoder, clock=clock)
        dim = config.encoder.output_dim
        self.transducer = (
            TransducerHead(dim, config.vocab_size, config.transducer)
            if config.transducer is not None
            else None
        )
        self.ctc = CtcHead(dim, config.vocab_size) if config.ctc else None

    @property
    def clock(self) -> TrainingClock:
        return self.encoder.clock

    @property
    def blank_id(self) -> int:
        return self.config.blank_id

    def encode(
        self,
        features: Tensor,
        lengths: Tensor,
        *,
        chunk_frames: int | None = None,
        left_context_frames: int | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Encoder output, (B, T, 80) fbank -> (B, T', C) at 25 Hz and (B,) lengths.

        This is what icefall's ``forward_encoder`` returns (before the joiner's projection).
        See :meth:`Zipformer.forward` for the arguments.
        """
        return self.encoder(
            features, lengths, chunk_frames=chunk_frames, left_context_frames=left_context_frames
        )

    def predict(self, tokens: Tensor, need_pad: bool = True) -> Tensor:
        """Decoder output, (B, U) token ids -> (B, U, D). See :class:`StatelessDecoder`."""
        return self._transducer().decoder(tokens, need_pad)

    def join(self, enc: Tensor, dec: Tensor, project_input: bool = True) -> Tensor:
        """Joiner logits for broadcastable encoder (..., C) and decoder (..., D) outputs ->
        (..., V); with ``project_input=False`` both are already projected to J."""
        return self._transducer().joiner(enc, dec, project_input)

    def ctc_log_probs(self, enc: Tensor) -> Tensor:
        """CTC log-probabilities, (B, T, C) -> (B, T, V)."""
        if self.ctc is None:
            raise ValueError("this model has no CTC head (AsrModelConfig.ctc=False)")
        return self.ctc(enc)

    def _transducer(self) -> TransducerHead:
        if self.transducer is None:
            raise ValueError("this model has no transducer head (AsrModelConfig.transducer=None)")
        return self.transducer

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
