"""CTC loss as the icefall recipe computes it: blank 0, summed over utterances, float32.

Legend: T frames, B batch, V vocabulary, U tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from zipasr.losses import checks


def _min_frames(targets: Tensor, target_lengths: Tensor) -> list[int]:
    """Frames a CTC alignment needs per utterance: one per token, plus a blank between repeats."""
    lengths = target_lengths.tolist()
    if targets.ndim == 2:
        rows = [targets[b, :n] for b, n in enumerate(lengths)]
    else:
        rows = list(torch.split(targets, lengths))
    return [int(n) + int((row[1:] == row[:-1]).sum()) for n, row in zip(lengths, rows)]


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor,
    target_lengths: Tensor,
    blank: int = 0,
    reduction: str = "sum",
) -> Tensor:
    """``torch.nn.functional.ctc_loss`` with the recipe's defaults and guardrails.

    Args:
        log_probs: (T, B, V) log-softmax output (icefall's ``ctc_output(...).permute(1, 0, 2)``).
        targets: (B, U) padded or (sum U_b,) concatenated token ids, without blanks.
        input_lengths: (B,) valid frames per utterance.
        target_lengths: (B,) tokens per utterance.
        blank: the blank id.
        reduction: "sum" (recipe), "mean" (torch's: per-utterance loss / U_b, then mean) or
            "none" -> (B,).

    Raises:
        ValueError: on shape mistakes, or an utterance too long for its frames (CTC needs one
            frame per token plus one per repeated pair), whose loss would be infinite.
    """
    reduction = checks.check_reduction(reduction)
    if log_probs.ndim != 3:
        raise ValueError(f"log_probs must be (T, B, V), got shape {tuple(log_probs.shape)}")
    num_t, batch, _ = log_probs.shape
    if input_lengths.shape != (batch,) or target_lengths.shape != (batch,):
        raise ValueError(
            f"input_lengths {tuple(input_lengths.shape)} and target_lengths "
            f"{tuple(target_lengths.shape)} must be (B,) = ({batch},); log_probs is (T, B, V)"
        )
    frames = input_lengths.tolist()
    for b, (have, need) in enumerate(zip(frames, _min_frames(targets, target_lengths))):
        if not 0 < have <= num_t:
            raise ValueError(f"input_lengths[{b}] = {have} must lie in [1, T={num_t}]")
        if need > have:
            raise ValueError(
                f"utterance {b} has T={have} frames and U={int(target_lengths[b])} tokens, but "
                f"CTC needs {need} frames (tokens plus repeats), so its loss would be infinite; "
                "filter it out"
            )
    with checks.float32_region(log_probs):
        log_probs = checks.at_least_float32(log_probs, "log_probs")
        return F.ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            blank=blank,
            reduction=reduction,
        )
