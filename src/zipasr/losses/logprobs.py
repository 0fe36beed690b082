"""Transducer log-probabilities arranged as lattice edge weights (px, py).

Legend: B batch, T frames, S = U max tokens, V vocabulary, R = prune_range.
``px[b, s, t]`` (B, S, T+1) is the log-probability of emitting token ``symbols[b, s]`` at
lattice node (s, t); ``py[b, s, t]`` (B, S+1, T) that of the blank (moving to frame t + 1). The
column ``px[:, :, T_b]`` is ``-inf``: no token can be emitted after the last frame, which makes
the lattice's end corner (U_b, T_b) the state reached by the blank on the last frame.
"""

from __future__ import annotations

import torch
from torch import Tensor

_NEG_INF = float("-inf")


def _with_end_column(px: Tensor, boundary: Tensor) -> Tensor:
    """(B, S, T) -> (B, S, T+1): append a frame T and block emissions on each end frame T_b."""
    batch, num_s, num_t = px.shape
    px = torch.cat([px, px.new_full((batch, num_s, 1), _NEG_INF)], dim=2)
    frames = torch.arange(num_t + 1, device=px.device).view(1, 1, -1)
    return px.masked_fill(frames == boundary[:, 3].view(-1, 1, 1), _NEG_INF)


def full_lattice(
    logits: Tensor, symbols: Tensor, blank: int, boundary: Tensor
) -> tuple[Tensor, Tensor]:
    """px, py from joiner logits (B, T, S+1, V) over the whole lattice."""
    batch, num_t, num_s1, _ = logits.shape
    num_s = num_s1 - 1
    log_norm = torch.logsumexp(logits, dim=3)  # (B, T, S+1)
    index = symbols.view(batch, 1, num_s, 1).expand(batch, num_t, num_s, 1)
    emit = logits[:, :, :num_s].gather(3, index).squeeze(3) - log_norm[:, :, :num_s]
    px = _with_end_column(emit.transpose(1, 2), boundary)
    py = (logits[..., blank] - log_norm).transpose(1, 2)
    return px, py


def smoothed_lattice(
    lm: Tensor,
    am: Tensor,
    symbols: Tensor,
    blank: int,
    lm_only_scale: float,
    am_only_scale: float,
    boundary: Tensor,
) -> tuple[Tensor, Tensor]:
    """px, py of the "trivial joiner" ``logits = am[:, t] + lm[:, s]``, smoothed.

    Three distributions over the next token at node (s, t) are mixed in the log domain:
    combined ``softmax(am[t] + lm[s])``, LM-only ``softmax(lm[s])`` and AM-only
    ``softmax(am[t] + log unigram)``, where the unigram is the LM's softmax averaged over every
    (b, s) row of the batch, padding rows included (as k2 does).

    Args:
        lm: (B, S+1, V) unnormalised LM scores.
        am: (B, T, V) unnormalised acoustic scores.
    """
    batch, num_t, vocab = am.shape
    num_s = lm.shape[1] - 1
    tiny = torch.finfo(am.dtype).tiny
    # exp() on max-shifted scores keeps the V-sums in range; the shifts are added back in logs.
    am_max = am.amax(dim=2, keepdim=True)  # (B, T, 1)
    lm_max = lm.amax(dim=2, keepdim=True)  # (B, S+1, 1)
    am_exp = (am - am_max).exp()
    lm_exp = (lm - lm_max).exp()
    log_norm = (lm_exp @ am_exp.transpose(1, 2) + tiny).log() + lm_max + am_max.transpose(1, 2)

    lm_sum = lm_exp.sum(dim=2, keepdim=True)  # (B, S+1, 1)
    unigram = (lm_exp / lm_sum).mean(dim=(0, 1)) + tiny  # (V,)
    am_only_norm = ((am_exp.reshape(-1, vocab) @ unigram).view(batch, 1, num_t)).log()
    am_only_norm = am_only_norm + am_max.transpose(1, 2)  # (B, 1, T)
    lm_only_norm = lm_sum.log() + lm_max  # (B, S+1, 1)
    log_unigram = unigram.log()

    am_emit = am.transpose(1, 2).gather(1, symbols.unsqueeze(2).expand(batch, num_s, num_t))
    lm_emit = lm[:, :num_s].gather(2, symbols.unsqueeze(2))  # (B, S, 1)
    px_combined = am_emit + lm_emit - log_norm[:, :num_s]
    px_lm_only = lm_emit - lm_only_norm[:, :num_s]
    px_am_only = am_emit + log_unigram[symbols].unsqueeze(2) - am_only_norm

    am_blank = am[:, :, blank].unsqueeze(1)  # (B, 1, T)
    lm_blank = lm[:, :, blank].unsqueeze(2)  # (B, S+1, 1)
    py_combined = am_blank + lm_blank - log_norm
    py_lm_only = lm_blank - lm_only_norm
    py_am_only = am_blank + log_unigram[blank] - am_only_norm

    combined_scale = 1.0 - lm_only_scale - am_only_scale
    px = combined_scale * px_combined + lm_only_scale * px_lm_only + am_only_scale * px_am_only
    py = combined_scale * py_combined + lm_only_scale * py_lm_only + am_only_scale * py_am_only
    return _with_end_column(px, boundary), py


def _unband(band: Tensor, start: Tensor, num_rows: int) -> Tensor:
    """(B, T, R) values at symbols start..start+R-1 -> (B, num_rows, T), ``-inf`` off the band."""
    width = band.shape[2]
    rows = torch.arange(num_rows, device=band.device).view(1, -1, 1)
    offset = rows - start.unsqueeze(1)  # (B, num_rows, T)
    inside = (offset >= 0) & (offset < width)
    values = band.transpose(1, 2).gather(1, offset.clamp(0, width - 1))
    return values.masked_fill(~inside, _NEG_INF)


def pruned_lattice(
    logits: Tensor, symbols: Tensor, ranges: Tensor, blank: int, boundary: Tensor
) -> tuple[Tensor, Tensor]:
    """px, py from pruned joiner logits (B, T, R, V) covering symbols ``ranges[b, t, :]``.

    Nodes outside each frame's band get ``-inf``, so paths leaving the band do not count.
    """
    batch, num_t, width, _ = logits.shape
    num_s = symbols.shape[1]
    log_norm = torch.logsumexp(logits, dim=3)  # (B, T, R)
    # The band may reach s = S, where no token is emitted; any id works there, px drops it.
    padded = torch.cat([symbols, symbols.new_full((batch, 1), blank)], dim=1)
    band_symbols = padded.unsqueeze(1).expand(batch, num_t, num_s + 1).gather(2, ranges)
    emit = logits.gather(3, band_symbols.unsqueeze(3)).squeeze(3) - log_norm
    start = ranges[:, :, 0]
    px = _with_end_column(_unband(emit, start, num_s), boundary)
    py = _unband(logits[..., blank] - log_norm, start, num_s + 1)
    return px, py
