"""The ScaledAdam update rule for one step of a set of buckets (spec section 5.3).

Scalar buckets (every member has one element) are tiny, so they are stacked and updated as one
tensor, as the reference does. Non-scalar buckets hold almost all the weights; for them the
element-wise part of the rule runs as ``torch._foreach_*`` ops directly on the parameters and on
per-member views of the stacked state, which avoids the reference's stack / unstack copies. Large
tensors are cut into flat segments and small ones grouped (on CPU), so the dozen passes over each
chunk of about ``SEGMENT_NUMEL`` elements stay in cache. The per-member reductions (sums of g*g,
p*g, p*p) are taken in one read before the update (``member_stats``) and in a different order
than the reference; every element-wise op and its rounding is the reference's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .buckets import Bucket

SEGMENT_NUMEL = 1 << 17  # elements per CPU chunk of the element-wise pipeline (512 KiB in fp32)
SCALE_STEP_LIMIT = 0.1  # bound on the relative change of a tensor's size per size update
BIAS_CORRECTION_LIMIT = 0.99  # the second-moment bias correction stops once 1 - beta2^t >= this


def rms_over_members(stacked: Tensor) -> Tensor:
    """sqrt(mean(x**2)) over all but the first axis, keeping dims: (n, *s) -> (n, 1, ..., 1)."""
    dims = list(range(1, stacked.ndim))
    return (stacked**2).mean(dim=dims, keepdim=True).sqrt().to(torch.float)


def init_state(state: dict[str, Any], bucket: Bucket, size_update_period: int) -> None:
    """Creates a bucket's state on its first step (keys in the reference's order)."""
    p0 = bucket.params[0]
    shape, device = bucket.stacked_shape, p0.device
    state["step"] = 0
    state["exp_avg_sq"] = torch.zeros(shape, device=device, dtype=torch.float)
    if not bucket.is_scalar:
        rms = rms_over_members(torch.stack(bucket.params))
        state["param_rms"] = rms
        state["scale_grads"] = torch.zeros(
            (size_update_period, *rms.shape), device=device, dtype=torch.float
        )
        state["scale_exp_avg_sq"] = torch.zeros_like(rms)
    state["delta"] = torch.zeros(shape, device=device, dtype=torch.float)


def _bias_correction(beta2: float, step: int) -> float:
    """Adam's 1 - beta2^(step+1), or 1.0 once it is past BIAS_CORRECTION_LIMIT."""
    correction = 1 - beta2 ** (step + 1)
    return correction if correction < BIAS_CORRECTION_LIMIT else 1.0


def update_scalar_bucket(
    group: dict[str, Any],
    bucket: Bucket,
    state: dict[str, Any],
    grads: Sequence[Tensor],
    clip: float,
) -> None:
    """Adam-normalised step with momentum, then clamping to +-scalar_max. No RMS scaling."""
    beta1, beta2 = group["betas"]
    lr = group["lr"] * group["scalar_lr_scale"]
    p = torch.stack(bucket.params)
    g = torch.stack(list(grads))
    if clip != 1.0:
        g = g * clip
    exp_avg_sq, momentum = state["exp_avg_sq"], state["delta"]

    exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    correction = _bias_correction(beta2, state["step"])
    second = exp_avg_sq * (1.0 / correction) if correction != 1.0 else exp_avg_sq
    denom = second.sqrt().add_(group["eps"])
    delta = -lr * g / denom
    momentum.mul_(beta1).add_(delta, alpha=1 - beta1)
    p += momentum
    p.clamp_(min=-group["scalar_max"], max=group["scalar_max"])
    torch._foreach_copy_(list(bucket.params), list(p.unbind(0)))


def _size_step(group: dict[str, Any], state: dict[str, Any], step: int) -> Tensor:
    """Learned change of each member's log-size, (n, 1, ..., 1); spec 5.3 step 2."""
    beta2 = group["betas"][1]
    period = group["size_update_period"]
    scale_grads, scale_exp_avg_sq = state["scale_grads"], state["scale_exp_avg_sq"]
    param_rms = state["param_rms"]
    param_min_rms = group["param_min_rms"]

    # One size update sees `period` steps, so its second-moment average decays faster.
    beta2_period = beta2**period
    scale_exp_avg_sq.mul_(beta2_period).add_((scale_grads**2).mean(dim=0), alpha=1 - beta2_period)
    num_size_updates = (step + 1) // period
    correction = 1 - beta2_period**num_size_updates
    denom = scale_exp_avg_sq.sqrt() + group["eps"]
    size_lr = group["lr"] * group["scalar_lr_scale"]
    scale_step = -size_lr * (correction**0.5) * scale_grads.sum(dim=0) / denom
    # Tensors already at the minimum size are not shrunk further.
    scale_step.masked_fill_(param_rms < param_min_rms, 0.0)
    scale_step.clamp_(min=-SCALE_STEP_LIMIT, max=SCALE_STEP_LIMIT)
    return torch.minimum(scale_step, (group["param_max_rms"] - param_rms) / param_rms)


@dataclass(frozen=True)
class MemberStats:
    """Per-member reductions of one bucket, each of shape (n,), taken before the update."""

    grad_sumsq: Tensor | None  # sum(g**2), for the clipping norm (None without clipping)
    param_grad: Tensor | None  # sum(p * g): gradient w.r.t. the member's log-size (tensors)
    param_sumsq: Tensor | None  # sum(p**2), when the RMS is refreshed this step (tensors)


def rms_refresh_due(state: dict[str, Any], size_update_period: int) -> bool:
    return state.get("step", 0) % size_update_period == size_update_period - 1


def member_stats(
    bucket: Bucket, grads: Sequence[Tensor], refresh_rms: bool, need_grad_sumsq: bool
) -> MemberStats:
    """The reductions this step needs, taken member by member while p and g are in cache."""
    if bucket.is_scalar:
        g = torch.stack([g.reshape(()) for g in grads])
        return MemberStats(g * g, None, None)
    flat_p = [p.detach().reshape(-1) for p in bucket.params]
    flat_g = [g.reshape(-1) for g in grads]
    pairs = list(zip(flat_p, flat_g, strict=True))
    return MemberStats(
        grad_sumsq=torch.stack([torch.dot(g, g) for g in flat_g]) if need_grad_sumsq else None,
        param_grad=torch.stack([torch.dot(p, g) for p, g in pairs]),
        param_sumsq=torch.stack([torch.dot(p, p) for p in flat_p]) if refresh_rms else None,
    )


def _segments(tensor: Tensor, like: Tensor) -> list[Tensor]:
    """Flat pieces of at most SEGMENT_NUMEL elements (views), or ``[tensor]`` if not possible.

    Only on CPU: the pieces are for its caches; a GPU's fused foreach kernels want big tensors.
    """
    small = like.numel() <= SEGMENT_NUMEL
    if small or like.device.type != "cpu" or not like.is_contiguous():
        return [tensor]
    return list(tensor.reshape(-1).split(SEGMENT_NUMEL))


def _chunks(sizes: Sequence[int], device: torch.device) -> Iterator[slice]:
    """Consecutive pieces of about SEGMENT_NUMEL elements in all (CPU), or everything at once."""
    if device.type != "cpu":
        yield slice(0, len(sizes))
        return
    start, total = 0, 0
    for i, size in enumerate(sizes):
        total += size
        if total >= SEGMENT_NUMEL:
            yield slice(start, i + 1)
            start, total = i + 1, 0
    if start < len(sizes):
        yield slice(start, len(sizes))


def update_tensor_buckets(
    group: dict[str, Any],
    buckets: Sequence[Bucket],
    states: Sequence[dict[str, Any]],
    grads: Sequence[Sequence[Tensor]],
    stats: Sequence[MemberStats],
    step: int,
    clip: float,
) -> None:
    """One step for non-scalar buckets that all have state step ``step``.

    ``grads[b][i]`` is the raw gradient of ``buckets[b].params[i]``; it is multiplied by the
    clipping factor ``clip`` here, chunk by chunk, rather than in a separate pass.
    """
    beta1, beta2 = group["betas"]
    period = group["size_update_period"]
    refresh_rms = step % period == period - 1
    update_size = refresh_rms and step > 0

    params: list[Tensor] = []
    flat_grads: list[Tensor] = []
    exp_avg_sqs: list[Tensor] = []
    momenta: list[Tensor] = []
    rms_factors: list[Tensor] = []
    size_factors: list[Tensor] = []
    for bucket, state, bucket_grads, stat in zip(buckets, states, grads, stats, strict=True):
        assert stat.param_grad is not None
        param_grad = stat.param_grad if clip == 1.0 else stat.param_grad * clip
        state["scale_grads"][step % period].view(-1).copy_(param_grad)
        if refresh_rms:
            assert stat.param_sumsq is not None
            mean_sq = stat.param_sumsq / bucket.params[0].numel()
            state["param_rms"].view(-1).copy_(mean_sq.sqrt())
        # The "scaled" in ScaledAdam: step sizes are proportional to each tensor's RMS.
        # Per-member factors stay 0-dim tensors (no .tolist()), so a GPU need not synchronise.
        rms = state["param_rms"].clamp(min=group["param_min_rms"]).view(-1).unbind(0)
        sizes = _size_step(group, state, step).view(-1).unbind(0) if update_size else rms
        rows = zip(bucket.params, bucket_grads, state["exp_avg_sq"], state["delta"], strict=True)
        for i, (p, g, v, m) in enumerate(rows):
            pieces = _segments(p.detach(), p)
            params += pieces
            flat_grads += _segments(g, p)
            exp_avg_sqs += _segments(v, p)
            momenta += _segments(m, p)
            rms_factors += [rms[i]] * len(pieces)
            size_factors += [sizes[i]] * len(pieces)

    for part in _chunks([p.numel() for p in params], params[0].device):
        _elementwise_step(
            group,
            params[part],
            flat_grads[part],
            exp_avg_sqs[part],
            momenta[part],
            rms_factors[part],
            size_factors[part] if update_size else None,
            _bias_correction(beta2, step),
            clip,
        )


def _elementwise_step(
    group: dict[str, Any],
    params: list[Tensor],
    grads: list[Tensor],
    exp_avg_sqs: list[Tensor],
    momenta: list[Tensor],
    rms_factors: list[Tensor],
    size_factors: list[Tensor] | None,
    correction: float,
    clip: float,
) -> None:
    """Spec 5.3 steps 1-3 on one cache-sized chunk; the lists are aligned, one entry a piece."""
    beta1, beta2 = group["betas"]
    if clip != 1.0:
        grads = list(torch._foreach_mul(grads, clip))
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=1 - beta2)
    if correction != 1.0:
        denom = torch._foreach_mul(exp_avg_sqs, 1.0 / correction)
        torch._foreach_sqrt_(denom)
    else:
        denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denom, group["eps"])
    delta = torch._foreach_mul(grads, -group["lr"])
    torch._foreach_div_(delta, denom)
    torch._foreach_mul_(delta, rms_factors)
    if size_factors is not None:
        torch._foreach_add_(delta, torch._foreach_mul(params, size_factors))
    torch._foreach_mul_(momenta, beta1)
    torch._foreach_add_(momenta, delta, alpha=1 - beta1)
    torch._foreach_add_(params, momenta)
