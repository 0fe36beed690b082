"""Label-smoothed cross-entropy of the attention decoder, as icefall's recipe computes it.

Legend: B batch, U positions, V vocabulary.
"""

from __future__ import annotations

from torch import Tensor

from zipasr.losses import checks


def label_smoothing_loss(
    logits: Tensor,
    targets: Tensor,
    *,
    smoothing: float = 0.1,
    ignore_index: int = -1,
    reduction: str = "sum",
) -> Tensor:
    """Cross-entropy against the smoothed target ``(1 - smoothing) * onehot + smoothing / V``.

    Per position: ``-sum_v q(v) log_softmax(logits)[v]`` with q the smoothed target (note the
    ``smoothing / V`` mass also lands on the true token, as in icefall); positions whose target
    is ``ignore_index`` contribute 0.

    Args:
        logits: (B, U, V) unnormalised scores.
        targets: (B, U) token ids, ``ignore_index`` at padding.
        smoothing: in [0, 1); 0 is plain cross-entropy.
        reduction: "sum" (recipe), "mean" (per non-ignored position) or "none" -> (B, U).
    """
    reduction = checks.check_reduction(reduction)
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing={smoothing} must be in [0, 1)")
    if logits.ndim != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(
            f"logits {tuple(logits.shape)} must be (B, U, V) and targets "
            f"{tuple(targets.shape)} (B, U)"
        )
    with checks.float32_region(logits):
        log_probs = checks.at_least_float32(logits, "logits").log_softmax(dim=-1)
        ignored = targets == ignore_index
        safe = targets.masked_fill(ignored, 0).long()
        vocab = logits.shape[-1]
        true_token = log_probs.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (B, U)
        loss = -(1.0 - smoothing) * true_token - (smoothing / vocab) * log_probs.sum(dim=-1)
        loss = loss.masked_fill(ignored, 0.0)
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / (~ignored).sum().clamp(min=1)
    return loss
