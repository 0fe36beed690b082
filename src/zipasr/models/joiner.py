"""The transducer joiner: combines an encoder frame and a decoder state into token logits."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zipasr.nn.scaled_init import scaled_linear


class Joiner(nn.Module):
    """logits = W_out tanh(W_enc enc + W_dec dec).

    The two input projections are exposed (:meth:`project_encoder`, :meth:`project_decoder`) so
    that decoders and the pruned loss can project once and join many times.

    Args:
        encoder_dim: C.
        decoder_dim: D.
        joiner_dim: J.
        vocab_size: V.

    Shapes:
        enc (..., C) and dec (..., D) broadcastable  ->  (..., V) unnormalised logits;
        with ``project_input=False`` both inputs are already projected: (..., J).
    """

    def __init__(
        self, encoder_dim: int, decoder_dim: int, joiner_dim: int, vocab_size: int
    ) -> None:
        super().__init__()
        self.encoder_proj = scaled_linear(encoder_dim, joiner_dim, initial_scale=0.25)
        self.decoder_proj = scaled_linear(decoder_dim, joiner_dim, initial_scale=0.25)
        self.output_linear = nn.Linear(joiner_dim, vocab_size)

    def project_encoder(self, enc: Tensor) -> Tensor:
        return self.encoder_proj(enc)

    def project_decoder(self, dec: Tensor) -> Tensor:
        return self.decoder_proj(dec)

    def forward(self, enc: Tensor, dec: Tensor, project_input: bool = True) -> Tensor:
        if project_input:
            enc, dec = self.encoder_proj(enc), self.decoder_proj(dec)
        return self.output_linear(torch.tanh(enc + dec))
