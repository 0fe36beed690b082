"""The stateless prediction network: an embedding and a small convolution over the context."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zipasr.regularizers import Balancer

#: Channels per group of the context convolution.
GROUP_SIZE = 4


class StatelessDecoder(nn.Module):
    """Predicts from the last ``context_size`` tokens only (no recurrence).

    Output for position u = ReLU(conv(embedding(y[u - context + 1 .. u]))); a negative token id
    means "no token" and embeds to zeros (used to start decoding with less context).

    Args:
        vocab_size: V.
        dim: D.
        context_size: tokens of context (1 = embedding only).

    Attributes:
        context_as_matmul: without ``need_pad``, compute the one output position as grouped
            matrix products instead of a convolution call (the same sums; faster in PyTorch on
            CPU, where decoding calls this once per emitted token). Export sets it to False so
            that the exported graph keeps its Conv node.

    Shapes:
        y: (B, U) int64  ->  (B, U, D). With ``need_pad`` (training) the sequence is left-padded
        so that every position gets an output; without it (decoding), U must equal
        ``context_size`` and the output has one position.
    """

    def __init__(self, vocab_size: int, dim: int, context_size: int) -> None:
        super().__init__()
        self.vocab_size, self.context_size = vocab_size, context_size
        self.embedding = nn.Embedding(vocab_size, dim)
        self.context_as_matmul = True
        self.conv: nn.Conv1d | None = None
        if context_size > 1:
            self.conv = nn.Conv1d(dim, dim, context_size, groups=dim // GROUP_SIZE, bias=False)
        self.embedding_balancer = Balancer(
            dim, -1, min_positive=0.0, max_positive=1.0, min_abs=0.5, max_abs=1.0, prob=0.05
        )
        self.out_balancer = Balancer(
            dim, -1, min_positive=0.0, max_positive=1.0, min_abs=0.5, max_abs=1.0, prob=0.05
        )

    def forward(self, y: Tensor, need_pad: bool = True) -> Tensor:
        y = y.to(torch.int64)
        x = self.embedding(y.clamp(min=0)) * (y >= 0).unsqueeze(-1)
        x = self.embedding_balancer(x)
        if self.conv is None:
            return x
        if not need_pad and x.shape[1] != self.context_size:
            raise ValueError(
                f"without padding the decoder needs exactly context_size={self.context_size} "
                f"tokens per sequence, got {x.shape[1]}"
            )
        if need_pad or not self.context_as_matmul:
            x = x.transpose(1, 2)
            if need_pad:
                x = F.pad(x, (self.context_size - 1, 0))
            y = self.conv(x).transpose(1, 2)
        else:
            y = self._convolve_context(x)
        return self.out_balancer(F.relu(y))

    def _convolve_context(self, x: Tensor) -> Tensor:
        """The context convolution at its single output position, (B, context, D) -> (B, 1, D).

        As one matrix product per group it costs a fraction of a convolution call on this
        one-frame input (same arithmetic).
        """
        assert self.conv is not None
        batch, context, dim = x.shape
        groups = dim // GROUP_SIZE
        # (groups, B, GROUP_SIZE * context): a group's inputs, channel-major then time.
        x = x.view(batch, context, groups, GROUP_SIZE).permute(2, 0, 3, 1).flatten(2)
        weight = self.conv.weight.view(groups, GROUP_SIZE, GROUP_SIZE * context)
        y = torch.bmm(x, weight.transpose(1, 2))  # (groups, B, GROUP_SIZE)
        return y.transpose(0, 1).reshape(batch, 1, dim)
