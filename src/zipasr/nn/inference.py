"""When eager CPU execution may take the encoder's blockwise, memory-saving paths.

Long utterances make a few very large intermediate tensors: attention scores of
(heads, batch, T, T) at 50 Hz and the front end's 384-channel ConvNeXt hidden layer, each tens
of megabytes for 30 s of audio. On CPU a fresh tensor that large is mapped from the operating
system on every call (glibc hands out allocations above 32 MiB with ``mmap``), and touching its
pages for the first time costs more than the arithmetic written into it. Without autograd the
encoder can instead compute those stages block by block, in place, into one output tensor:
the same operations on the same numbers, with intermediates that stay in the cache.

Those paths are for plain eager execution only. Tracing, ONNX export and ``torch.compile``
want one graph of plain operations (inductor fuses them itself); autocast and other devices
keep the straightforward code. Under autograd a blockwise path needs a backward of its own
that works block by block too: the attention weights have one
(``zipasr.encoder.attention``), the front end's ConvNeXt does not (it runs blockwise in eval
only).
"""

from __future__ import annotations

import torch
from torch import Tensor


def blockwise_applies(*tensors: Tensor) -> bool:
    """Whether these tensors are being processed in eager float32 CPU execution, outside
    autocast, tracing, ONNX export, ``torch.compile`` and ``torch.func`` transforms: where the
    blockwise paths may replace the batched code (with autograd only where they implement a
    backward). Check the mode before any size: under ``torch.compile`` a size comparison
    becomes a guard on the graph."""
    if (
        torch.is_autocast_enabled("cpu")
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.onnx.is_in_onnx_export()
        or torch.compiler.is_compiling()
    ):
        return False
    return all(
        type(x) is Tensor and x.device.type == "cpu" and x.dtype == torch.float32 and plain(x)
        for x in tensors
    )


def plain(t: Tensor) -> bool:
    """Not a ``torch.func`` wrapper (grad, vmap, jvp) and without a forward-mode tangent."""
    return (
        not torch._C._functorch.is_functorch_wrapped_tensor(t)
        and torch.autograd.forward_ad.unpack_dual(t).tangent is None
    )


def needs_grad(*tensors: Tensor | None) -> bool:
    """Whether autograd records operations on any of these tensors."""
    return torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in tensors)


def blockwise_inference(*tensors: Tensor) -> bool:
    """:func:`blockwise_applies`, and no gradient is being recorded for any of them."""
    return not needs_grad(*tensors) and blockwise_applies(*tensors)


#: Elements per block of the blockwise paths: 1 MiB of float32, which stays in a core's cache.
BLOCK_NUMEL = 1 << 18


def row_block(row_numel: int) -> int:
    """Rows per block so that a block of rows of ``row_numel`` elements holds about
    :data:`BLOCK_NUMEL` of them (at least one row)."""
    return max(1, BLOCK_NUMEL // max(1, row_numel))
