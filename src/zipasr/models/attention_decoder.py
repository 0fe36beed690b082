"""The attention-based decoder (AED): a pre-norm Transformer decoder over the encoder output.

It is icefall's Zipformer ``attention_decoder`` (a CTC/AED recipe's second head): token
embedding scaled by sqrt(D) plus sinusoidal positions, then per layer causal self-attention,
cross-attention to the encoder frames and a Swish feed-forward module, each on a LayerNorm'd
input and added back; a final linear layer gives token logits. Sequences start with ``sos_id``
and the model is trained to end them with ``eos_id``.

Legend: B batch, U tokens (plus the start / end symbol), T encoder frames, C encoder width,
D decoder width, A attention width, V vocabulary.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zipasr.losses import label_smoothing_loss
from zipasr.models.config import AttentionDecoderConfig
from zipasr.regularizers import AbsValuePenalty

#: Padding target of the loss (never a token id).
IGNORE_ID = -1


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """(length, dim) absolute position codes: sin at even channels, cos at odd ones, with
    wavelengths growing geometrically from 2 pi to 10000 * 2 pi."""
    position = torch.arange(length, dtype=torch.float32, device=device).unsqueeze(1)
    rates = torch.exp(
        torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim)
    )
    codes = torch.zeros(length, dim, device=device)
    codes[:, 0::2] = torch.sin(position * rates)
    codes[:, 1::2] = torch.cos(position * rates[: dim // 2])
    return codes


class DecoderAttention(nn.Module):
    """Multi-head scaled dot-product attention with separate q/k/v projections.

    Args:
        dim: D, the query input width (and the output width).
        attention_dim: A = heads * head size.
        num_heads: H.
        memory_dim: width of the keys/values input (C for cross-attention; D if None).

    Shapes:
        query (B, U, D), memory (B, S, C or D), mask (B, 1 or U, S) bool, True = masked
        -> (B, U, D).
    """

    def __init__(
        self, dim: int, attention_dim: int, num_heads: int, memory_dim: int | None = None
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = attention_dim // num_heads
        source = dim if memory_dim is None else memory_dim
        self.q_proj = nn.Linear(dim, attention_dim)
        self.k_proj = nn.Linear(source, attention_dim)
        self.v_proj = nn.Linear(source, attention_dim)
        self.out_proj = nn.Linear(attention_dim, dim)
        # A gradient-only nudge on scores beyond +-50 (the recipe's), so softmax cannot saturate.
        self.score_penalty = AbsValuePenalty(limit=50.0, penalty=1e-4, prob=1.0)

    def forward(self, query: Tensor, memory: Tensor, mask: Tensor) -> Tensor:
        batch, num_q, _ = query.shape
        num_k = memory.shape[1]
        heads, size = self.num_heads, self.head_dim
        q = self.q_proj(query).view(batch, num_q, heads, size).transpose(1, 2)  # (B, H, U, d)
        k = self.k_proj(memory).view(batch, num_k, heads, size).transpose(1, 2)
        v = self.v_proj(memory).view(batch, num_k, heads, size).transpose(1, 2)
        scores = q @ k.transpose(2, 3) / math.sqrt(size)  # (B, H, U, S)
        scores = self.score_penalty(scores)
        scores = scores.masked_fill(mask.unsqueeze(1), float("-inf"))
        out = scores.softmax(dim=-1) @ v  # (B, H, U, d)
        return self.out_proj(out.transpose(1, 2).reshape(batch, num_q, heads * size))


class DecoderLayer(nn.Module):
    """Pre-norm self-attention, cross-attention and feed-forward, each with a residual."""

    def __init__(self, config: AttentionDecoderConfig, memory_dim: int, dropout: float) -> None:
        super().__init__()
        dim = config.dim
        self.self_attn_norm = nn.LayerNorm(dim)
        self.self_attn = DecoderAttention(dim, config.attention_dim, config.num_heads)
        self.cross_attn_norm = nn.LayerNorm(dim)
        self.cross_attn = DecoderAttention(
            dim, config.attention_dim, config.num_heads, memory_dim=memory_dim
        )
        self.ff_norm = nn.LayerNorm(dim)
        self.ff_in = nn.Linear(dim, config.feedforward_dim)
        self.ff_out = nn.Linear(config.feedforward_dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, self_mask: Tensor, memory: Tensor, memory_mask: Tensor) -> Tensor:
        y = self.self_attn_norm(x)
        x = x + self.dropout(self.self_attn(y, y, self_mask))
        x = x + self.dropout(self.cross_attn(self.cross_attn_norm(x), memory, memory_mask))
        hidden = F.silu(self.ff_in(self.ff_norm(x)))
        return x + self.dropout(self.ff_out(self.dropout(hidden)))


class AttentionDecoder(nn.Module):
    """Token logits for every prefix of token sequences, attending to encoder frames.

    Args:
        config: the head's architecture.
        vocab_size: V.
        memory_dim: C, the encoder output width.
        dropout: dropout on the embedding and inside each layer (training only; the recipe's
            0.1).

    Shapes:
        :meth:`forward`: tokens (B, U) int64 with lengths (B,), memory (B, T, C) with
        lengths (B,) -> (B, U, V) logits; position u predicts token u + 1.
    """

    def __init__(
        self,
        config: AttentionDecoderConfig,
        vocab_size: int,
        memory_dim: int,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(vocab_size, config.dim)
        self.embed_dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            DecoderLayer(config, memory_dim, dropout) for _ in range(config.num_layers)
        )
        self.output = nn.Linear(config.dim, vocab_size)

    def forward(
        self, tokens: Tensor, token_lengths: Tensor, memory: Tensor, memory_lengths: Tensor
    ) -> Tensor:
        num_u, num_t, device = tokens.shape[1], memory.shape[1], tokens.device
        x = self.embedding(tokens) * math.sqrt(self.config.dim)
        x = self.embed_dropout(x + sinusoidal_positions(num_u, self.config.dim, device))
        positions = torch.arange(num_u, device=device)
        padding = positions.unsqueeze(0) >= token_lengths.unsqueeze(1)  # (B, U)
        future = positions.unsqueeze(0) > positions.unsqueeze(1)  # (U, U): key after query
        self_mask = padding.unsqueeze(1) | future.unsqueeze(0)  # (B, U, U)
        frames = torch.arange(num_t, device=memory.device)
        memory_mask = (frames.unsqueeze(0) >= memory_lengths.unsqueeze(1)).unsqueeze(1)
        for layer in self.layers:
            x = layer(x, self_mask, memory, memory_mask)
        return self.output(x)

    def inputs_and_targets(
        self, sequences: list[list[int]], device: torch.device | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Teacher-forcing tensors for token lists: inputs ``[sos, y...]`` padded with eos
        (B, U+1), their lengths (B,), and targets ``[y..., eos]`` padded with
        :data:`IGNORE_ID` (B, U+1)."""
        sos, eos = self.config.sos_id, self.config.eos_id
        width = max(len(s) for s in sequences) + 1 if sequences else 1
        inputs = torch.full((len(sequences), width), eos, dtype=torch.int64)
        targets = torch.full((len(sequences), width), IGNORE_ID, dtype=torch.int64)
        for i, seq in enumerate(sequences):
            inputs[i, : len(seq) + 1] = torch.tensor([sos, *seq], dtype=torch.int64)
            targets[i, : len(seq) + 1] = torch.tensor([*seq, eos], dtype=torch.int64)
        lengths = torch.tensor([len(s) + 1 for s in sequences], dtype=torch.int64)
        return inputs.to(device), lengths.to(device), targets.to(device)

    def loss(
        self,
        memory: Tensor,
        memory_lengths: Tensor,
        sequences: list[list[int]],
        *,
        label_smoothing: float = 0.1,
        reduction: str = "sum",
    ) -> Tensor:
        """The label-smoothed cross-entropy of predicting each sequence and its end symbol,
        summed over positions and utterances (``reduction="none"``: per position, (B, U+1))."""
        inputs, lengths, targets = self.inputs_and_targets(sequences, memory.device)
        logits = self(inputs, lengths, memory, memory_lengths)
        return label_smoothing_loss(
            logits,
            targets,
            smoothing=label_smoothing,
            ignore_index=IGNORE_ID,
            reduction=reduction,
        )

    def log_probs(
        self, memory: Tensor, memory_lengths: Tensor, sequences: list[list[int]]
    ) -> Tensor:
        """(B, U+1, V) log-probabilities of the next token after each prefix ``[sos, y<u]``
        of each sequence (rows past a sequence's end are padding)."""
        inputs, lengths, _ = self.inputs_and_targets(sequences, memory.device)
        return self(inputs, lengths, memory, memory_lengths).log_softmax(dim=-1)

    def sequence_scores(
        self, memory: Tensor, memory_lengths: Tensor, sequences: list[list[int]]
    ) -> Tensor:
        """(B,) log-probability of each whole sequence followed by the end symbol (icefall's
        ``-nll.sum(1)``, the attention score of rescoring)."""
        inputs, lengths, targets = self.inputs_and_targets(sequences, memory.device)
        log_probs = self(inputs, lengths, memory, memory_lengths).log_softmax(dim=-1)
        valid = targets != IGNORE_ID
        picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return (picked * valid).sum(dim=1)
