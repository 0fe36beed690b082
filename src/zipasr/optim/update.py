"""The ScaledAdam update rule for one step of a set of buckets (spec section 5.3).

Scalar buckets (every member has one element) are tiny, so they are stacked and updated as one
tensor, as the reference does. Non-scalar buckets hold almost all the weights; for them the
element-wise part of the rule runs as ``torch._foreach_*`` ops directly on the parameters and on
per-member views of the stacked state, which avoids the reference's stack / unstack copies. Large
tensors are cut into flat segments and small ones grouped (on CPU), so the passes over each
chunk of about ``SEGMENT_NUMEL`` elements (``THREADED_SEGMENT_FACTOR`` times more with several
threads) stay in cache.

The rule is rearranged so that a step makes seven passes over each chunk, as many as
``torch.optim.Adam`` makes (the reference makes about a dozen, plus copies). Per member, every
factor of the step is folded into one number: with ``c`` the bias correction,

    -lr * (k g) / (sqrt(v / c) + eps) * rms  ==  -lr k rms sqrt(c) * g / (sqrt(v) + eps sqrt(c))

so the momentum update is one ``addcdiv`` (``m = b1 m + (1 - b1) delta``), and the clipping
factor ``k`` enters the second moment as ``(1 - b2) k^2`` rather than as a scaled copy of the
gradient. These are the reference's formulas; only the rounding of a few products differs
(about 1e-7 relative to each step in float32; with bfloat16 parameters, one or two bfloat16
units in the last place from the earlier, unfolded arrangement).
The folded factors reach the host once per step (twice on steps that update the parameter
scales): on a GPU that is a synchronisation each, not yet measured there. The per-member
reductions (sums of g*g, p*g, p*p) are taken before the update (``member_stats``), in a
different order than the reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .buckets import Bucket

SEGMENT_NUMEL = 1 << 17  # elements per CPU chunk of the element-wise pipeline (512 KiB in fp32)
#: With more than one torch thread the chunks are this many times larger. Every element-wise op
#: on a chunk is one parallel region, and waking the other threads for each costs more than the
#: cache locality saves: Zipformer-M's step at 2 threads (Intel Xeon, optimizer_step.py) took
#: 540 ms with 2^17 and 403 ms with 2^19 under OMP_WAIT_POLICY=PASSIVE, 185 and 188 ms with the
#: default policy; at 1 thread 2^17 stays the fastest (276 vs 293 ms).
THREADED_SEGMENT_FACTOR = 4
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
    # Member by member, so that the second and third reads of p and g come from cache.
    param_grad, grad_sumsq, param_sumsq = [], [], []
    for p, g in zip(bucket.params, grads, strict=True):
        flat_p, flat_g = p.detach().reshape(-1), g.reshape(-1)
        param_grad.append(torch.dot(flat_p, flat_g))
        if need_grad_sumsq:
            grad_sumsq.append(torch.dot(flat_g, flat_g))
        if refresh_rms:
            param_sumsq.append(torch.dot(flat_p, flat_p))
    return MemberStats(
        grad_sumsq=torch.stack(grad_sumsq) if need_grad_sumsq else None,
        param_grad=torch.stack(param_grad),
        param_sumsq=torch.stack(param_sumsq) if refresh_rms else None,
    )


def segment_numel() -> int:
    """Elements per CPU chunk for the current torch thread count (see THREADED_SEGMENT_FACTOR)."""
    return SEGMENT_NUMEL * (THREADED_SEGMENT_FACTOR if torch.get_num_threads() > 1 else 1)


def _segments(tensor: Tensor, like: Tensor, numel: int) -> list[Tensor]:
    """Flat pieces of at most ``numel`` elements (views), or ``[tensor]`` if not possible
    (``like``, the parameter, decides for its gradient and state alike).

    Only on CPU: the pieces are for its caches; a GPU's fused foreach kernels want big tensors.
    """
    if like.device.type != "cpu" or not like.is_contiguous():
        return [tensor]
    return list(tensor.reshape(-1).split(numel))


def _chunks(sizes: Sequence[int], device: torch.device, numel: int) -> Iterator[slice]:
    """Consecutive pieces of about ``numel`` elements in all (CPU), or everything at once."""
    if device.type != "cpu":
        yield slice(0, len(sizes))
        return
    start, total = 0, 0
    for i, size in enumerate(sizes):
        total += size
        if total >= numel:
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

    ``grads[b][i]`` is the raw gradient of ``buckets[b].params[i]``; the clipping factor
    ``clip`` is folded into the step's constants rather than applied in a separate pass.
    The per-member factors are read to the host in one transfer per call, two on size-update
    steps (on a GPU, that many synchronisations besides the clipping factor's).
    """
    beta1, beta2 = group["betas"]
    period = group["size_update_period"]
    refresh_rms = step % period == period - 1
    update_size = refresh_rms and step > 0

    rms_rows: list[Tensor] = []
    size_rows: list[Tensor] = []
    for bucket, state, stat in zip(buckets, states, stats, strict=True):
        assert stat.param_grad is not None
        param_grad = stat.param_grad if clip == 1.0 else stat.param_grad * clip
        state["scale_grads"][step % period].view(-1).copy_(param_grad)
        if refresh_rms:
            assert stat.param_sumsq is not None
            mean_sq = stat.param_sumsq / bucket.params[0].numel()
            state["param_rms"].view(-1).copy_(mean_sq.sqrt())
        rms_rows.append(state["param_rms"].view(-1))
        if update_size:
            size_rows.append(_size_step(group, state, step).view(-1))
    # The "scaled" in ScaledAdam: step sizes are proportional to each tensor's RMS.
    rms = torch.cat(rms_rows).clamp(min=group["param_min_rms"]).tolist()
    sizes = torch.cat(size_rows).tolist() if update_size else []

    correction = _bias_correction(beta2, step)
    root = math.sqrt(correction)
    step_scale = -(1 - beta1) * group["lr"] * clip * root
    params: list[Tensor] = []
    flat_grads: list[Tensor] = []
    exp_avg_sqs: list[Tensor] = []
    momenta: list[Tensor] = []
    step_factors: list[float] = []
    size_factors: list[float] = []
    member = 0
    numel = segment_numel()
    for bucket, state, bucket_grads in zip(buckets, states, grads, strict=True):
        rows = zip(
            bucket.params,
            bucket_grads,
            state["exp_avg_sq"].unbind(0),
            state["delta"].unbind(0),
            strict=True,
        )
        for p, g, v, m in rows:
            if p.numel() <= numel:  # most members: one piece (the common, fast path)
                params.append(p)
                flat_grads.append(g)
                exp_avg_sqs.append(v)
                momenta.append(m)
                pieces = 1
            else:
                segments = _segments(p.detach(), p, numel)
                params += segments
                flat_grads += _segments(g, p, numel)
                exp_avg_sqs += _segments(v, p, numel)
                momenta += _segments(m, p, numel)
                pieces = len(segments)
            step_factors += [step_scale * rms[member]] * pieces
            if update_size:
                size_factors += [(1 - beta1) * sizes[member]] * pieces
            member += 1

    constants = StepConstants(
        beta1=beta1,
        beta2=beta2,
        grad_sq_scale=(1 - beta2) * clip * clip,
        eps=group["eps"] * root,
    )
    for part in _chunks([p.numel() for p in params], params[0].device, numel):
        _elementwise_step(
            constants,
            params[part],
            flat_grads[part],
            exp_avg_sqs[part],
            momenta[part],
            step_factors[part],
            size_factors[part] if update_size else None,
        )


@dataclass(frozen=True)
class StepConstants:
    """The scalars shared by every piece of one step (see the module docstring)."""

    beta1: float
    beta2: float
    grad_sq_scale: float  # (1 - beta2) * clip**2
    eps: float  # eps * sqrt(bias correction)


def _elementwise_step(
    constants: StepConstants,
    params: list[Tensor],
    grads: list[Tensor],
    exp_avg_sqs: list[Tensor],
    momenta: list[Tensor],
    step_factors: list[float],
    size_factors: list[float] | None,
) -> None:
    """Spec 5.3 steps 1-3 on one cache-sized chunk; the lists are aligned, one entry a piece.

    ``step_factors[i]`` is -(1 - beta1) lr clip rms sqrt(c) of the piece's member and
    ``size_factors[i]`` (1 - beta1) times its size step, on size-update steps.
    """
    torch._foreach_mul_(exp_avg_sqs, constants.beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=constants.grad_sq_scale)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denom, constants.eps)
    torch._foreach_mul_(momenta, constants.beta1)
    torch._foreach_addcdiv_(momenta, grads, denom, step_factors)
    if size_factors is not None:
        torch._foreach_add_(momenta, torch._foreach_mul(params, size_factors))
    torch._foreach_add_(params, momenta)
