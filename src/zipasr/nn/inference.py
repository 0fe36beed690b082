"""When eager CPU inference may take its memory-saving paths.

Long utterances make a few very large intermediate tensors: attention scores of
(heads, batch, T, T) at 50 Hz and the front end's 384-channel ConvNeXt hidden layer, each tens
of megabytes for 30 s of audio. On CPU a fresh tensor that large is mapped from the operating
system on every call (glibc hands out allocations above 32 MiB with ``mmap``), and touching its
pages for the first time costs more than the arithmetic written into it. Without autograd the
encoder can instead compute those stages block by block, in place, into one output tensor:
the same operations on the same numbers, with intermediates that stay in the cache.

Those paths are for plain eager execution only. Autograd needs the whole intermediates;
tracing, ONNX export and ``torch.compile`` want one graph of plain operations (inductor fuses
them itself); autocast and other devices keep the straightforward code.
"""

from __future__ import annotations

import torch
from torch import Tensor


def blockwise_inference(x: Tensor) -> bool:
    """Whether ``x`` is being processed in eager float32 CPU inference, outside autograd,
    autocast, tracing, ONNX export and ``torch.compile``."""
    return (
        not (torch.is_grad_enabled() and x.requires_grad)
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_autocast_enabled("cpu")
        and not torch.jit.is_tracing()
        and not torch.jit.is_scripting()
        and not torch.onnx.is_in_onnx_export()
        and not torch.compiler.is_compiling()
    )


#: Elements per block of the blockwise paths: 1 MiB of float32, which stays in a core's cache.
BLOCK_NUMEL = 1 << 18


def row_block(row_numel: int) -> int:
    """Rows per block so that a block of rows of ``row_numel`` elements holds about
    :data:`BLOCK_NUMEL` of them (at least one row)."""
    return max(1, BLOCK_NUMEL // max(1, row_numel))
