"""Mixed precision: bf16 autocast where the GPU supports it, else fp16 with a grad scaler.

fp16 training can diverge silently: when gradients keep overflowing the scaler halves its scale
until it is tiny. :func:`check_grad_scale` turns that into a clear error (the recipe's behaviour),
and :func:`grow_small_scale` gives a small scale extra chances to recover, as the recipe does.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

#: Below this the scale is reported every time it is checked (the recipe's threshold).
WARN_SCALE = 0.01
#: Below this training stops: the fp16 gradients are all inf/NaN (the recipe's threshold).
MIN_SCALE = 1.0e-5


@dataclass
class Precision:
    """The autocast dtype (None: fp32) and, for fp16, the grad scaler."""

    dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def resolve_precision(name: str, device: torch.device) -> Precision:
    """``auto`` is bf16 on GPUs that support it, fp16 with a scaler on older GPUs, fp32 on CPU.
    ``bf16`` also works on CPU (autocast); ``fp16`` needs a GPU."""
    if name == "auto":
        if device.type != "cuda":
            name = "fp32"
        else:
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if name == "fp32":
        return Precision(None, None)
    if name == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("precision=bf16 but this GPU lacks bf16; use precision=fp16 or auto")
        return Precision(torch.bfloat16, None)
    if name == "fp16":
        if device.type != "cuda":
            raise ValueError("precision=fp16 needs a CUDA GPU; use bf16 or fp32 on CPU")
        # The recipe starts at scale 1.0 (not torch's 65536): losses are sums over the batch.
        return Precision(torch.float16, torch.amp.GradScaler("cuda", init_scale=1.0))
    raise ValueError(f"precision={name!r}; choose auto, fp32, bf16 or fp16")


def autocast(precision: Precision, device: torch.device) -> contextlib.AbstractContextManager:
    """The forward pass's autocast context (a no-op for fp32)."""
    if precision.dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=precision.dtype)


def check_grad_scale(scale: float, step: int) -> None:
    """Warns when the fp16 grad scale is small and raises when it has collapsed.

    Raises:
        RuntimeError: ``scale < MIN_SCALE``, with what to try next.
    """
    if scale < MIN_SCALE:
        raise RuntimeError(
            f"fp16 grad scale collapsed to {scale:.3g} at step {step} (< {MIN_SCALE:g}): the "
            "gradients overflow fp16 at every step, so training has diverged. Resume from the "
            "last checkpoint with precision=bf16 (if the GPU has it) or precision=fp32, or "
            "lower optim.base_lr / data.max_duration_s."
        )
    if scale < WARN_SCALE:
        log.warning("fp16 grad scale is small: %.3g at step %d", scale, step)


def grow_small_scale(scaler: torch.amp.GradScaler, step: int) -> None:
    """Doubles a small scale now and then (the recipe: every 25 steps below 2, every 100 below
    8, every 400 below 32), since the scaler alone grows it only every 2000 clean steps."""
    scale = scaler.get_scale()
    if (
        (step % 25 == 0 and scale < 2.0)
        or (step % 100 == 0 and scale < 8.0)
        or (step % 400 == 0 and scale < 32.0)
    ):
        scaler.update(scale * 2.0)
