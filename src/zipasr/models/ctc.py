"""The CTC output layer."""

from __future__ import annotations

from torch import Tensor, nn


class CtcHead(nn.Module):
    """Dropout (training only) and a linear layer to token log-probabilities.

    Shapes:
        enc: (B, T, C)  ->  (B, T, V) log-probabilities
    """

    def __init__(self, encoder_dim: int, vocab_size: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(encoder_dim, vocab_size)

    def forward(self, enc: Tensor) -> Tensor:
        return self.proj(self.dropout(enc)).log_softmax(dim=-1)
