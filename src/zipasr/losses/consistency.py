"""The consistency-regularisation term of CR-CTC (Yao et al., "CR-CTC: Consistency
regularization on CTC for improved speech recognition", 2024), as icefall's Zipformer computes it.

Legend: B utterances, T frames, V vocabulary. The batch holds two differently augmented views of
the same B utterances, rows [0, B) and [B, 2B). Each view's CTC posteriors are pulled towards the
other's (detached: the other view is the target, not trained by this term).
"""

from __future__ import annotations

import torch
from torch import Tensor

from zipasr.losses import checks


def cr_ctc_consistency(log_probs: Tensor, lengths: Tensor, reduction: str = "sum") -> Tensor:
    """KL(other view || this view) per frame and token, summed over the valid frames.

    For row b with partner b' = (b + B) mod 2B: ``sum_t sum_v p_b'(v|t) (log p_b'(v|t) -
    log p_b(v|t))`` over ``t < lengths[b]``, with ``p_b'`` detached. The recipe halves this
    value (and the CTC loss of the doubled batch) so that both count per utterance once; that
    halving is the caller's (:meth:`zipasr.models.AsrModel.forward` does it).

    Args:
        log_probs: (2B, T, V) CTC log-probabilities of both views, view 1 first.
        lengths: (2B,) valid frames per row.
        reduction: "sum" (recipe), "mean" (over all 2B*T*V entries, padding included, as the
            recipe's "mean" is) or "none" -> (2B, T, V).

    Raises:
        ValueError: for an odd number of rows or mismatched lengths.
    """
    reduction = checks.check_reduction(reduction)
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must be (2B, T, V), got shape {tuple(log_probs.shape)}")
    rows, frames, _ = log_probs.shape
    if rows % 2:
        raise ValueError(f"log_probs has {rows} rows; CR-CTC needs two views of each utterance")
    if lengths.shape != (rows,):
        raise ValueError(f"lengths has shape {tuple(lengths.shape)}, expected ({rows},)")
    with checks.float32_region(log_probs):
        log_probs = checks.at_least_float32(log_probs, "log_probs")
        target = torch.roll(log_probs.detach(), rows // 2, dims=0)  # [x1, x2] -> [x2, x1]
        kl = target.exp() * (target - log_probs)  # (2B, T, V)
        padding = torch.arange(frames, device=lengths.device) >= lengths.unsqueeze(1)
        kl = kl.masked_fill(padding.to(kl.device).unsqueeze(-1), 0.0)
    if reduction == "sum":
        return kl.sum()
    if reduction == "mean":
        return kl.mean()
    return kl
