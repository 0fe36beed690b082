"""CompactRelPositionalEncoding: a parameter-free embedding of relative offsets."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class CompactRelPositionalEncoding(nn.Module):
    """Embeds every key-minus-query offset d in [-(T + L - 1), T - 1] as a P-dim vector.

    The offset is compressed logarithmically (d -> c sign(d) log(1 + |d|/c), c = sqrt(P)), mapped
    to a finite angle with atan, and expanded into P/2 harmonics (cos, sin pairs); the last column
    is the constant 1, a bias for the positional scores. Nearby offsets stay distinguishable while
    1000 and 1001 look almost alike. The row for an offset depends on the offset alone.

    Args:
        pos_dim: P (even).
        dropout: dropout on the embedding (training only).

    Shapes:
        forward(T, L) -> (1, 2T + L - 1, P), rows in increasing d.
    """

    def __init__(self, pos_dim: int, dropout: float = 0.15, length_factor: float = 1.0) -> None:
        super().__init__()
        if pos_dim % 2:
            raise ValueError(f"pos_dim={pos_dim} must be even")
        self.pos_dim, self.length_factor = pos_dim, length_factor
        self.dropout = nn.Dropout(dropout)

    def table(self, offsets: Tensor) -> Tensor:
        """(N,) float32 offsets -> (N, P) embeddings."""
        d = offsets.unsqueeze(1)
        c = self.pos_dim**0.5
        compressed = c * d.sign() * ((d.abs() + c).log() - math.log(c))
        angle = (compressed / (self.length_factor * self.pos_dim / (2.0 * math.pi))).atan()
        harmonics = torch.arange(1, self.pos_dim // 2 + 1, device=offsets.device)
        phase = angle * harmonics
        table = torch.stack((phase.cos(), phase.sin()), dim=-1).flatten(1)
        table[:, -1] = 1.0
        return table

    def forward(
        self,
        num_frames: int,
        left_context: int = 0,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        offsets = torch.arange(
            -(num_frames + left_context - 1), num_frames, device=device, dtype=torch.float32
        )
        return self.dropout(self.table(offsets).to(dtype).unsqueeze(0))
