"""Strict weight assignment into a model built on the meta device."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn


def assign_weights(model: nn.Module, weights: Mapping[str, Tensor]) -> None:
    """Loads ``weights`` into ``model`` (typically built under ``torch.device("meta")``, so that
    nothing is initialised twice), strictly: a missing or unexpected key raises KeyError and a
    shape mismatch ValueError, naming the key. The model gets float32 copies, never the caller's
    tensors."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    if missing or unexpected:
        raise KeyError(
            f"weights do not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
            + (
                f" (and {len(missing) + len(unexpected) - 10} more)"
                if len(missing) + len(unexpected) > 10
                else ""
            )
        )
    for key, value in weights.items():
        if value.shape != expected[key].shape:
            raise ValueError(
                f"{key}: shape {tuple(value.shape)} given, {tuple(expected[key].shape)} expected"
            )
    model.load_state_dict({k: v.detach().float().clone() for k, v in weights.items()}, assign=True)
