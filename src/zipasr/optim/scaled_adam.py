"""ScaledAdam (Zipformer paper, section 3.3): Adam whose steps scale with each tensor's RMS.

The algorithm, per group and step (spec section 5):

1. clip the gradients to clipping_scale x the median of recent gradient norms (``clipping.py``);
2. per bucket of same-shaped parameters, an Adam-normalised step, scaled by the tensor's RMS,
   plus a periodic learned change of the tensor's size, then momentum (``update.py``).

The results equal the reference (icefall's ``optim.py``) up to float rounding (a few
reductions and products are taken in another order; see ``update.py``), and its state layout
is the reference's, so icefall optimizer checkpoints load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from .buckets import Bucket, make_buckets
from .clipping import clipping_factor
from .update import (
    init_state,
    member_stats,
    rms_refresh_due,
    update_scalar_bucket,
    update_tensor_buckets,
)

ParamsLike = Iterable[Tensor] | Iterable[tuple[str, Tensor]] | Iterable[dict[str, Any]]


class ScaledAdam(Optimizer):
    """ScaledAdam optimizer, numerically the reference's.

    Args:
        params: parameters, ``(name, parameter)`` pairs (e.g. ``model.named_parameters()``), or
            groups: dicts with ``"params"`` (tensors or pairs) or icefall's ``"named_params"``,
            plus per-group overrides of the options below. Names are used only in diagnostics
            and error messages.
        lr: learning rate (the recipe uses 0.045 with an :class:`Eden` schedule).
        clipping_scale: clip the gradient norm to this times the median norm of the last
            ``clipping_update_period`` steps; None disables clipping (the recipe uses 2.0).
        betas: (beta1, beta2): momentum on the update, and decay of the squared-gradient average.
        scalar_lr_scale: learning-rate factor for one-element parameters and for tensor sizes.
        eps: added to the denominators.
        param_min_rms: RMS below which a tensor's steps stop shrinking (also the smallest RMS
            used to scale steps, so zero-initialised tensors can grow).
        param_max_rms: the size updates never make a tensor's RMS exceed this.
        scalar_max: one-element parameters are clamped to [-scalar_max, scalar_max].
        size_update_period: steps between updates of the tensor sizes.
        clipping_update_period: length of the gradient-norm history, and the period in steps
            at which the clipping threshold is re-estimated.

    Unlike torch's optimizers, parameters whose ``.grad`` is None are still stepped (as with a
    zero gradient: momentum carries on), as in the reference. State is float32 whatever the
    parameter dtype, as in the reference; it is kept once per bucket of same-shaped parameters
    (see ``buckets.py``), so ``state_dict()`` has the reference's layout.

    Where the reference would go on with a non-finite gradient norm (it zeroes the gradients
    once a clipping threshold exists, and lets NaN through before that), this optimizer raises
    an error that names the parameters; the check needs the norm, so it runs when
    ``clipping_scale`` is set.
    """

    def __init__(
        self,
        params: ParamsLike,
        lr: float = 3e-2,
        clipping_scale: float | None = None,
        betas: tuple[float, float] = (0.9, 0.98),
        scalar_lr_scale: float = 0.1,
        eps: float = 1.0e-8,
        param_min_rms: float = 1.0e-5,
        param_max_rms: float = 3.0,
        scalar_max: float = 10.0,
        size_update_period: int = 4,
        clipping_update_period: int = 100,
    ) -> None:
        defaults = dict(
            lr=lr,
            clipping_scale=clipping_scale,
            betas=betas,
            scalar_lr_scale=scalar_lr_scale,
            eps=eps,
            param_min_rms=param_min_rms,
            param_max_rms=param_max_rms,
            scalar_max=scalar_max,
            size_update_period=size_update_period,
            clipping_update_period=clipping_update_period,
        )
        _check_options(defaults, where="ScaledAdam")
        super().__init__(_as_torch_groups(params), defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group (see ``params``); checks its options and parameters."""
        if "named_params" in param_group:
            if "params" in param_group:
                raise ValueError(
                    "a parameter group has both 'params' and 'named_params'; give one of them"
                )
            param_group = dict(param_group)
            param_group["params"] = list(param_group.pop("named_params"))
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        where = f"ScaledAdam param group {len(self.param_groups) - 1}"
        _check_options(group, where=where)
        for name, p in zip(self.param_names(group), group["params"], strict=True):
            if p.is_complex():
                raise ValueError(
                    f"{where}: parameter {name!r} is complex ({p.dtype}); ScaledAdam supports "
                    "real tensors only. Optimise torch.view_as_real(p) as a real parameter."
                )
            if not p.is_floating_point():
                raise ValueError(
                    f"{where}: parameter {name!r} has dtype {p.dtype}; ScaledAdam needs "
                    "floating-point parameters."
                )

    def param_names(self, group: dict[str, Any]) -> list[str]:
        """Names of ``group``'s parameters; ``"group{i}.params[{j}]"`` where none were given."""
        if "param_names" in group:
            return list(group["param_names"])
        index = next((i for i, g in enumerate(self.param_groups) if g is group), 0)
        return [f"group{index}.params[{j}]" for j in range(len(group["params"]))]

    def buckets(self, group: dict[str, Any]) -> list[Bucket]:
        """``group``'s parameters bucketed by (dtype, shape), in update order."""
        return make_buckets(list(group["params"]), self.param_names(group))

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Updates every parameter once. Never logs; see ``zipasr.optim.diagnostics``.

        Raises:
            RuntimeError: a gradient is sparse; or, with clipping on, the gradient norm is not
                finite (the message names the parameters; nothing has been updated, so the
                batch can be skipped with ``zero_grad()``).
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            if group["params"]:
                self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        buckets = self.buckets(group)
        states = [self.state[b.params[0]] for b in buckets]
        grads = [self._grads(b) for b in buckets]
        for bucket, state in zip(buckets, states, strict=True):
            _check_state_matches(bucket, state)

        period = group["size_update_period"]
        clipping = group["clipping_scale"] is not None
        stats = [
            member_stats(bucket, bucket_grads, rms_refresh_due(state, period), clipping)
            for bucket, state, bucket_grads in zip(buckets, states, grads, strict=True)
        ]
        clip = 1.0
        if clipping:
            sumsq = [s.grad_sumsq for s in stats]
            clip = clipping_factor(group, buckets, states, sumsq)  # type: ignore[arg-type]

        for bucket, state in zip(buckets, states, strict=True):
            if not state:
                init_state(state, bucket, period)
        # Buckets normally share one step count; grouping by it keeps odd cases correct.
        by_step: dict[int, list[int]] = {}
        for i, (bucket, state) in enumerate(zip(buckets, states, strict=True)):
            if bucket.is_scalar:
                update_scalar_bucket(group, bucket, state, grads[i], clip)
            else:
                by_step.setdefault(state["step"], []).append(i)
        for step, idx in by_step.items():
            update_tensor_buckets(
                group,
                [buckets[i] for i in idx],
                [states[i] for i in idx],
                [grads[i] for i in idx],
                [stats[i] for i in idx],
                step,
                clip,
            )
        for state in states:
            state["step"] += 1

    @staticmethod
    def _grads(bucket: Bucket) -> list[Tensor]:
        grads = []
        for name, p in zip(bucket.names, bucket.params, strict=True):
            if p.grad is None:
                grads.append(torch.zeros_like(p))
            elif p.grad.is_sparse:
                raise RuntimeError(
                    f"ScaledAdam: parameter {name!r} has a sparse gradient, which is not "
                    "supported. Use nn.Embedding(..., sparse=False), or give this parameter to "
                    "an optimizer that handles sparse gradients (torch.optim.SparseAdam)."
                )
            else:
                grads.append(p.grad)
        return grads


def _as_torch_groups(params: ParamsLike) -> list[Any]:
    """Turns icefall's ``{"named_params": ...}`` groups into torch's ``{"params": pairs}``."""
    items = list(params)
    if not items:
        raise ValueError("ScaledAdam got an empty parameter list; pass model.named_parameters()")
    groups = []
    for item in items:
        if isinstance(item, dict) and "named_params" in item:
            item = {k: v for k, v in item.items() if k != "named_params"} | {
                "params": list(item["named_params"])
            }
        groups.append(item)
    return groups


def _check_state_matches(bucket: Bucket, state: dict[str, Any]) -> None:
    if "exp_avg_sq" in state and tuple(state["exp_avg_sq"].shape) != bucket.stacked_shape:
        raise RuntimeError(
            f"ScaledAdam: the bucket of parameters with shape {tuple(bucket.key[1:])} starting "
            f"at {bucket.names[0]!r} now has {len(bucket.params)} members but its state has "
            f"shape {tuple(state['exp_avg_sq'].shape)}. Parameters were added to or removed "
            "from a group after training started; use add_param_group() for new parameters, "
            "or build a new optimizer."
        )


def _check_options(options: dict[str, Any], where: str) -> None:
    """Raises ValueError naming the first invalid option, its value and the valid range."""

    def bad(name: str, rule: str) -> ValueError:
        return ValueError(f"{where}: {name}={options[name]!r} is invalid; it must be {rule}")

    lr, eps = options["lr"], options["eps"]
    if isinstance(lr, Tensor) or not lr >= 0:
        raise bad("lr", "a float >= 0")
    betas = options["betas"]
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise bad("betas", "a pair (beta1, beta2) with 0 <= beta < 1, e.g. (0.9, 0.98)")
    if not options["scalar_lr_scale"] >= 0:
        raise bad("scalar_lr_scale", "a float >= 0 (default 0.1)")
    if not eps >= 0:
        raise bad("eps", "a float >= 0 (default 1e-8)")
    if not options["param_min_rms"] > 0:
        raise bad("param_min_rms", "a float > 0 (default 1e-5)")
    if not options["param_max_rms"] > options["param_min_rms"]:
        raise bad("param_max_rms", f"greater than param_min_rms={options['param_min_rms']}")
    if not options["scalar_max"] > 0:
        raise bad("scalar_max", "a float > 0 (default 10.0)")
    clipping_scale = options["clipping_scale"]
    if clipping_scale is not None and not clipping_scale > 0:
        raise bad("clipping_scale", "None (no clipping) or a float > 0 (the recipe uses 2.0)")
    for name in ("size_update_period", "clipping_update_period"):
        value = options[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad(name, "an int >= 1")
