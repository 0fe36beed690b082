"""The transducer head: stateless decoder, joiner, and the projections of the simple loss."""

from __future__ import annotations

from torch import Tensor, nn

from zipasr.models.config import TransducerConfig
from zipasr.models.decoder import StatelessDecoder
from zipasr.models.joiner import Joiner
from zipasr.nn.scaled_init import scaled_linear


class TransducerHead(nn.Module):
    """Everything of a pruned RNN-T model that is not the encoder.

    ``simple_am_proj`` / ``simple_lm_proj`` map encoder and decoder outputs straight to token
    scores for the "simple" loss, whose gradients choose the band the pruned loss keeps.

    Shapes:
        see :class:`StatelessDecoder` and :class:`Joiner`; C = encoder width, V = vocabulary.
    """

    def __init__(self, encoder_dim: int, vocab_size: int, config: TransducerConfig) -> None:
        super().__init__()
        self.config = config
        self.decoder = StatelessDecoder(vocab_size, config.decoder_dim, config.context_size)
        self.joiner = Joiner(encoder_dim, config.decoder_dim, config.joiner_dim, vocab_size)
        self.simple_am_proj = scaled_linear(encoder_dim, vocab_size, initial_scale=0.25)
        self.simple_lm_proj = scaled_linear(config.decoder_dim, vocab_size, initial_scale=0.25)

    def forward(self, tokens: Tensor, need_pad: bool = True) -> Tensor:
        """Decoder output for token contexts: (B, U) -> (B, U, D)."""
        return self.decoder(tokens, need_pad)
