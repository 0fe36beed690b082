"""ScaledAdam's gradient clipping: clip to clipping_scale x the median of recent norms (spec 5.4).

The norm is taken over "scaled" gradients, g * param_rms for tensors and g * scalar_lr_scale for
scalars, because that is what the update is proportional to. Its history and the threshold live
in the state of the group's first bucket (keys ``model_norms``, ``model_norm_threshold``,
``num_clipped``), as in the reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .buckets import Bucket

EARLY_THRESHOLD_STEPS = (10, 20, 40)  # extra threshold estimates while the norm changes fast
EARLY_THRESHOLD_BOOST = 2.0  # the early estimates are looser
NORM_EPS = 1.0e-20


def scaled_sumsq(
    group: dict[str, Any],
    buckets: Sequence[Bucket],
    states: Sequence[dict[str, Any]],
    grad_sumsq: Sequence[Tensor],
) -> list[Tensor]:
    """Per-member squared scaled-gradient norms, one (n,) tensor per bucket.

    ``grad_sumsq[b][i]`` is sum(g**2) of member i of bucket b. Buckets without state yet (their
    first step) use the current parameter RMS.
    """
    out = []
    for bucket, state, sumsq in zip(buckets, states, grad_sumsq, strict=True):
        if bucket.is_scalar:
            out.append(sumsq * group["scalar_lr_scale"] ** 2)
            continue
        if "param_rms" in state:
            rms = state["param_rms"].view(-1)
        else:
            rms = torch.stack([p.detach().float().pow(2).mean().sqrt() for p in bucket.params])
        # Where sum(g**2) is 0 (e.g. an empty tensor, whose RMS is NaN) the term is 0.
        out.append(torch.where(sumsq != 0, sumsq * rms**2, 0.0))
    return out


def check_finite(sumsq: Sequence[Tensor], buckets: Sequence[Bucket], total: Tensor) -> None:
    """Raises a RuntimeError naming the parameters whose gradients are inf or NaN."""
    if bool(torch.isfinite(total)):
        return
    bad = [
        name
        for bucket, values in zip(buckets, sumsq, strict=True)
        for name, value in zip(bucket.names, values.tolist(), strict=True)
        if not math.isfinite(value)
    ]
    shown = ", ".join(repr(n) for n in bad[:10])
    if len(bad) > 10:
        shown += f" and {len(bad) - 10} more"
    raise RuntimeError(
        f"ScaledAdam: the gradient norm is {total.item()} (not finite); non-finite gradients in "
        f"{shown or 'the total only (the sum overflowed)'}. Nothing was updated. Skip this batch "
        "with optimizer.zero_grad(), and look for the cause: a loss that overflowed, bad input, "
        "or a learning rate that is too high. With fp16, use torch.amp.GradScaler, which skips "
        "such steps before the optimizer sees them."
    )


def _refresh_threshold(group: dict[str, Any], first: dict[str, Any], step: int) -> None:
    sorted_norms = first["model_norms"].sort()[0].to("cpu")
    early = step in _early_steps(group)
    if early:
        sorted_norms = sorted_norms[-step:]  # only the norms seen so far
    num_norms = sorted_norms.numel()
    median = sorted_norms[min(num_norms - 1, (num_norms // 4) * 2)].item()
    if median != median:
        raise RuntimeError(
            "ScaledAdam: the median of the recent gradient norms is NaN; the clipping history "
            "(state 'model_norms') holds non-finite values. Reload a good checkpoint, or reset "
            "the optimizer state."
        )
    threshold = group["clipping_scale"] * median
    if early:
        threshold = threshold * EARLY_THRESHOLD_BOOST
    first["model_norm_threshold"] = threshold
    first["num_clipped"] = 0


def _early_steps(group: dict[str, Any]) -> tuple[int, ...]:
    return tuple(s for s in EARLY_THRESHOLD_STEPS if s < group["clipping_update_period"])


def clipping_factor(
    group: dict[str, Any],
    buckets: Sequence[Bucket],
    states: Sequence[dict[str, Any]],
    grad_sumsq: Sequence[Tensor],
) -> float:
    """The factor in [0, 1] that this group's gradients are multiplied by before the update.

    Records the norm in the first bucket's history and refreshes the threshold when it is due.
    Raises RuntimeError (before touching any state) if the norm is not finite.
    """
    first = states[0]
    step = first.get("step", 0)
    sumsq = scaled_sumsq(group, buckets, states, grad_sumsq)
    total_sumsq = torch.zeros((), device=buckets[0].params[0].device)
    for values in sumsq:
        total_sumsq += values.sum()
    norm = total_sumsq.sqrt()
    check_finite(sumsq, buckets, norm)
    if step == 0:  # no history yet; the reference does not record the first norm either
        return 1.0

    period = group["clipping_update_period"]
    if "model_norms" not in first:
        first["model_norms"] = torch.zeros(period, device=norm.device)
    first["model_norms"][step % period] = norm
    if step % period == 0 or step in _early_steps(group):
        _refresh_threshold(group, first, step)
    if "model_norm_threshold" not in first:
        return 1.0

    factor = min(1.0, (first["model_norm_threshold"] / (norm + NORM_EPS)).item())
    if factor != factor:
        factor = 0.0
    if factor < 1.0:
        first["num_clipped"] += 1
    return factor
