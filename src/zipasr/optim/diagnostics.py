"""Which parameters dominate ScaledAdam's gradient norm: a report you ask for explicitly.

Call it between ``backward()`` and ``optimizer.step()``, e.g. when a loss spikes or when the
optimizer clipped hard. It reads gradients and optimizer state and changes nothing; any failure
is returned in the report (``error``), never raised, so it cannot stop a training run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .clipping import scaled_sumsq
from .scaled_adam import ScaledAdam


@dataclass(frozen=True)
class GradientShare:
    """One parameter's part of the clipping norm.

    ``share`` is its fraction of the squared norm, ``scaled_sumsq`` = sum((g * rms)**2) (for
    one-element parameters rms is ``scalar_lr_scale``), ``grad_ratio`` is
    rms(g) / sqrt(mean(exp_avg_sq)): how large this gradient is compared with its recent
    average (None before the first step).
    """

    name: str
    group: int
    share: float
    scaled_sumsq: float
    grad_ratio: float | None


@dataclass(frozen=True)
class GradientReport:
    """Parameters sorted by ``share``, largest first, and the total (scaled) gradient norm."""

    total_norm: float
    shares: list[GradientShare] = field(default_factory=list)
    error: str | None = None

    def __str__(self) -> str:
        if self.error is not None:
            return f"gradient report unavailable: {self.error}"
        lines = [f"scaled gradient norm {self.total_norm:.4g}; largest contributions:"]
        for s in self.shares:
            ratio = "n/a" if s.grad_ratio is None else f"{s.grad_ratio:.3g}"
            lines.append(f"  {s.share:7.2%}  {s.name}  (grad / usual grad: {ratio})")
        return "\n".join(lines)


def dominant_gradients(optimizer: ScaledAdam, top_k: int = 10) -> GradientReport:
    """The ``top_k`` parameters with the largest share of the clipping norm (all groups).

    Shares are relative to the total over all groups. Never raises.
    """
    try:
        return _report(optimizer, top_k)
    except Exception as error:  # noqa: BLE001 - a diagnostic must not end a training run
        return GradientReport(total_norm=math.nan, error=f"{type(error).__name__}: {error}")


@torch.no_grad()
def _report(optimizer: ScaledAdam, top_k: int) -> GradientReport:
    rows: list[tuple[str, int, float, float | None]] = []
    for index, group in enumerate(optimizer.param_groups):
        buckets = optimizer.buckets(group)
        states = [optimizer.state.get(b.params[0], {}) for b in buckets]
        grads = [
            [torch.zeros_like(p) if p.grad is None else p.grad.to_dense() for p in b.params]
            for b in buckets
        ]
        grad_sumsq = [torch.stack([g.float().pow(2).sum() for g in gs]) for gs in grads]
        sumsq = scaled_sumsq(group, buckets, states, grad_sumsq)
        for bucket, state, bucket_grads, values in zip(buckets, states, grads, sumsq, strict=True):
            exp_avg_sq = state.get("exp_avg_sq")
            for i, (name, g, value) in enumerate(
                zip(bucket.names, bucket_grads, values.tolist(), strict=True)
            ):
                ratio = None
                if exp_avg_sq is not None:
                    usual = exp_avg_sq[i].float().mean().item()
                    ratio = math.sqrt(g.float().pow(2).mean().item() / usual) if usual > 0 else None
                rows.append((name, index, value, ratio))
    total = sum(value for _, _, value, _ in rows)
    rows.sort(key=lambda row: -row[2] if math.isfinite(row[2]) else -math.inf)
    shares = [
        GradientShare(name, index, value / total if total > 0 else 0.0, value, ratio)
        for name, index, value, ratio in rows[:top_k]
    ]
    return GradientReport(total_norm=math.sqrt(total), shares=shares)
