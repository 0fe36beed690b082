"""Padding and chunk-causal attention masks (pure functions; True = masked)."""

from __future__ import annotations

import torch
from torch import Tensor


def padding_mask(lengths: Tensor, num_frames: int) -> Tensor:
    """(B,) lengths -> (B, num_frames) bool, True on padded frames (t >= length)."""
    return torch.arange(num_frames, device=lengths.device) >= lengths.unsqueeze(1)


def chunk_causal_mask(
    num_frames: int,
    chunk_frames: int,
    left_context_frames: int | None,
    device: torch.device | None = None,
) -> Tensor:
    """The simulated-streaming attention mask, (T, T) bool with rows = queries.

    Frames are grouped into chunks of ``chunk_frames``; a query sees every frame of its own
    chunk and of the ``left_context_frames // chunk_frames`` chunks before it (at least one;
    all of them when ``left_context_frames`` is None), and nothing after its chunk.
    """
    if left_context_frames is None:
        left_chunks = num_frames  # more chunks than there are
    else:
        left_chunks = max(1, left_context_frames // chunk_frames)
    chunk = torch.arange(num_frames, device=device) // chunk_frames
    query, key = chunk.unsqueeze(1), chunk.unsqueeze(0)
    return (key > query) | (key < query - left_chunks)
