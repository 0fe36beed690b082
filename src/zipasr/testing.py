"""Small configurations and inputs for tests, ours and downstream users'."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zipasr.encoder.config import ZipformerConfig

#: The value lhotse and the recipe pad fbank batches with: log(1e-10).
FBANK_PAD_VALUE = math.log(1e-10)


def tiny_config(causal: bool = False) -> ZipformerConfig:
    """A six-stack Zipformer small enough for unit tests (~70k parameters)."""
    return ZipformerConfig(
        num_layers=(1, 1, 1, 1, 1, 1),
        dims=(16, 24, 32, 32, 24, 16),
        num_heads=(2, 2, 2, 2, 2, 2),
        feedforward_dims=(32, 48, 64, 64, 48, 32),
        conv_kernels=(7, 7, 5, 3, 5, 7),
        query_head_dim=8,
        value_head_dim=4,
        pos_head_dim=2,
        pos_dim=8,
        causal=causal,
    )


def random_features(
    lengths: list[int], feature_dim: int = 80, *, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """A padded batch of random fbank-like features: (B, max(lengths), feature_dim) padded with
    :data:`FBANK_PAD_VALUE`, and the (B,) int64 lengths."""
    gen = torch.Generator().manual_seed(seed)
    batch = torch.full((len(lengths), max(lengths), feature_dim), FBANK_PAD_VALUE)
    for i, n in enumerate(lengths):
        batch[i, :n] = torch.randn(n, feature_dim, generator=gen) * 2.0 - 8.0
    return batch, torch.tensor(lengths, dtype=torch.int64)
