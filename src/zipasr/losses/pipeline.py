"""The pruned RNN-T training loss in one call, from lengths instead of k2 boundaries.

Legend: B batch, T frames, U tokens, V vocabulary, J joiner dim, R = prune_range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from zipasr.losses.checks import boundary_from_lengths, check_reduction, float32_region
from zipasr.losses.pruning import do_rnnt_pruning, get_rnnt_prune_ranges
from zipasr.losses.rnnt import rnnt_loss_pruned, rnnt_loss_smoothed


@dataclass
class PrunedRnntLosses:
    """The two transducer losses of one batch and the band they used.

    simple: the smoothed simple loss; pruned: the loss on the band; both reduced as requested.
    ranges: (B, T, R) symbol positions kept per frame.
    """

    simple: Tensor
    pruned: Tensor
    ranges: Tensor


def pruned_rnnt_losses(
    am_simple: Tensor,
    lm_simple: Tensor,
    am_joint: Tensor,
    lm_joint: Tensor,
    join: Callable[[Tensor, Tensor], Tensor],
    targets: Tensor,
    frame_lengths: Tensor,
    target_lengths: Tensor,
    *,
    blank: int = 0,
    prune_range: int = 5,
    lm_only_scale: float = 0.25,
    am_only_scale: float = 0.0,
    reduction: str = "sum",
) -> PrunedRnntLosses:
    """Simple loss -> prune ranges -> pruned joiner -> pruned loss, as icefall's model does.

    Args:
        am_simple: (B, T, V) ``simple_am_proj(encoder_out)``.
        lm_simple: (B, U+1, V) ``simple_lm_proj(decoder_out)``.
        am_joint: (B, T, J) ``joiner.encoder_proj(encoder_out)``.
        lm_joint: (B, U+1, J) ``joiner.decoder_proj(decoder_out)``.
        join: maps pruned (B, T, R, J) encoder and decoder inputs to logits (B, T, R, V),
            e.g. ``lambda a, l: joiner(a, l, project_input=False)``. It runs under the caller's
            autocast; the losses themselves are computed in float32.
        targets: (B, U) token ids, padded with any valid id (e.g. the blank).
        frame_lengths: (B,) encoder frames per utterance; target_lengths: (B,) tokens.
        blank, prune_range, lm_only_scale, am_only_scale: recipe defaults.
        reduction: "sum" (recipe), "mean" or "none".
    """
    reduction = check_reduction(reduction)
    boundary = boundary_from_lengths(frame_lengths.to(am_simple.device), target_lengths)
    with float32_region(am_simple):
        simple, (px_grad, py_grad) = rnnt_loss_smoothed(
            lm=lm_simple.float(),
            am=am_simple.float(),
            symbols=targets,
            termination_symbol=blank,
            lm_only_scale=lm_only_scale,
            am_only_scale=am_only_scale,
            boundary=boundary,
            reduction=reduction,
            return_grad=True,
        )
    ranges = get_rnnt_prune_ranges(px_grad, py_grad, boundary, prune_range)
    am_pruned, lm_pruned = do_rnnt_pruning(am_joint, lm_joint, ranges)
    logits = join(am_pruned, lm_pruned)
    pruned = rnnt_loss_pruned(
        logits.float(), targets, ranges, blank, boundary=boundary, reduction=reduction
    )
    return PrunedRnntLosses(simple=simple, pruned=pruned, ranges=ranges)
