"""Per-module learning-rate scales, as the Zipformer recipe builds its parameter groups.

A module with an ``lr_scale`` attribute multiplies the learning rate of every parameter below
it; scales of nested modules multiply. Parameters with equal final rates share one group. This
is icefall's ``get_parameter_groups_with_lrs``; with no ``lr_scale`` anywhere (the LibriSpeech
recipe) the result is one group with the base rate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn

DDP_PREFIX = "module"  # DistributedDataParallel wraps the model under this attribute name


def lr_scaled_param_groups(
    model: nn.Module,
    lr: float,
    include_names: bool = True,
    freeze_modules: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Parameter groups ``[{"params": [...], "lr": lr * scales}, ...]`` for an optimizer.

    Args:
        model: the model (possibly wrapped in DistributedDataParallel).
        lr: base learning rate.
        include_names: give ``(name, parameter)`` pairs (for diagnostics) instead of tensors.
        freeze_modules: names of top-level submodules whose parameters are left out.

    Groups appear in the order of their first parameter in ``model.named_parameters()``.
    """
    scales = {name: m.lr_scale for name, m in model.named_modules() if hasattr(m, "lr_scale")}
    frozen = set(freeze_modules)
    by_lr: dict[float, list[Any]] = {}
    for name, param in model.named_parameters():
        parts = name.split(".")
        top = parts[1] if parts[0] == DDP_PREFIX and len(parts) > 1 else parts[0]
        if top in frozen:
            continue
        # Same multiplication order as icefall (first component, root, then deeper prefixes),
        # so the rates, and the grouping by rate, are bit-identical.
        prefix = parts[0]
        group_lr = lr * scales.get(prefix, 1.0)
        if prefix != "":
            group_lr *= scales.get("", 1.0)
        for part in parts[1:]:
            prefix = f"{prefix}.{part}"
            group_lr *= scales.get(prefix, 1.0)
        by_lr.setdefault(group_lr, []).append((name, param) if include_names else param)
    return [{"params": params, "lr": group_lr} for group_lr, params in by_lr.items()]
