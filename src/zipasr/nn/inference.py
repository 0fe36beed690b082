"""When eager CPU execution may take the encoder's blockwise, memory-saving paths.

Long utterances make a few very large intermediate tensors: attention scores of
(heads, batch, T, T) at 50 Hz and the front end's 384-channel ConvNeXt hidden layer, each tens
of megabytes for 30 s of audio. On CPU a fresh tensor that large is mapped from the operating
system on every call (glibc hands out allocations above 32 MiB with ``mmap``), and touching its
pages for the first time costs more than the arithmetic written into it. Without autograd the
encoder can instead compute those stages block by block, in place, into one output tensor:
the same operations on the same numbers, with intermediates that stay in the cache. The one
such tensor that must exist whole, the attention weights, is drawn from a buffer each thread
keeps from call to call (:func:`reused_empty`), so that its pages are mapped once.

Those paths are for plain eager execution only. Tracing, ONNX export and ``torch.compile``
want one graph of plain operations (inductor fuses them itself); autocast and other devices
keep the straightforward code. Under autograd a blockwise path needs a backward of its own
that works block by block too: the attention weights have one
(``zipasr.encoder.attention``), the front end's ConvNeXt does not (it runs blockwise in eval
only).
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Iterable

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


def blockwise_inference(*tensors: Tensor, weights: Iterable[Tensor] = ()) -> bool:
    """:func:`blockwise_applies` to ``tensors``, and no gradient is being recorded for them
    nor for ``weights`` (a module's parameters, which :func:`blockwise_applies` cannot take:
    they are ``nn.Parameter``, not plain tensors)."""
    return not needs_grad(*tensors, *weights) and blockwise_applies(*tensors)


#: Elements per block of the blockwise paths: 1 MiB of float32, which stays in a core's cache.
BLOCK_NUMEL = 1 << 18


def row_block(row_numel: int) -> int:
    """Rows per block so that a block of rows of ``row_numel`` elements holds about
    :data:`BLOCK_NUMEL` of them (at least one row)."""
    return max(1, BLOCK_NUMEL // max(1, row_numel))


#: Smallest tensor that :func:`reused_empty` keeps between calls: glibc maps each allocation
#: above 32 MiB afresh from the operating system (smaller ones come from its heap, which reuses
#: freed memory without new page faults once it has grown).
REUSE_MIN_BYTES = 32 << 20

_reused = threading.local()


def reused_empty(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """An uninitialised tensor of ``shape`` with ``like``'s dtype, for an eager CPU inference
    path to fill; from :data:`REUSE_MIN_BYTES` up, a view of one buffer per thread that is
    kept from call to call (elsewhere, and on other devices, ``like.new_empty(shape)``).

    Such a tensor (the (H, B, T, K) attention weights of 30 s or more) would otherwise be a new
    mapping every call, whose first write pays a page fault per 4 KiB page: Zipformer-M loaded
    with ``zipasr.load``, ``encode_features`` of 1 x 30 s, 2 threads, 35,000 faults and
    0.463 s a call, 11,000-15,000 and 0.437-0.444 s with the weights reused (Intel Xeon,
    2026-12-07). (Where glibc's heap holds a free block that large, it serves the tensor
    from there without faults, and this changes nothing.)

    This is state kept between calls, on purpose and only for memory: every element of the
    returned tensor is the caller's to write, and the buffer is reused only when nothing else
    holds its memory, so a tensor handed out earlier and still referenced (by a forward hook,
    a view, its storage object) keeps its values and the call gets a new buffer; nor once it
    was moved to shared memory (sent to another process). The price is that each thread keeps
    its last buffer, at least as large as the largest tensor it was asked for since (34 MiB for
    Zipformer-M at 1 x 30 s; it grows with batch x T^2), until :func:`drop_reused` or the
    thread's end. A tensor handed out is a view of that buffer: ``torch.save`` of it writes
    the whole buffer (``.clone()`` first).
    """
    numel = math.prod(shape)
    if (
        numel * like.element_size() < REUSE_MIN_BYTES
        or _use_count is None
        or like.device.type != "cpu"
        or like.layout != torch.strided
    ):
        return like.new_empty(shape)
    buffer: Tensor | None = getattr(_reused, "buffer", None)
    if (
        buffer is None
        or buffer.numel() < numel
        or buffer.dtype != like.dtype
        or buffer.is_inference() != torch.is_inference_mode_enabled()
        or buffer.is_shared()
        or _holders(buffer) != _reused.holders
    ):
        _reused.buffer = None  # let it go before the new one is allocated
        buffer = like.new_empty(numel)
        _reused.buffer, _reused.holders = buffer, _holders(buffer)
    return buffer[:numel].view(shape)


def drop_reused() -> None:
    """Lets go of this thread's :func:`reused_empty` buffer."""
    _reused.buffer = None


def _holders(t: Tensor) -> tuple[int, int]:
    """Who holds ``t``'s memory: the count of references to its storage (one per tensor or
    view sharing it, one for its Python storage object while that lives) and the Python
    references to that storage object (kept by whoever called ``untyped_storage()`` or
    ``storage()`` on any of them). Both are compared with their values when the buffer was
    made, which this function's own temporaries are part of."""
    assert _use_count is not None
    storage = t.untyped_storage()
    return int(_use_count(storage._cdata)), sys.getrefcount(storage)


def _counts_holders() -> bool:
    """Whether :func:`_holders` sees a view and a kept storage object (a private torch
    function could change its meaning in another version; then nothing is reused)."""
    t = torch.empty(4)
    alone = _holders(t)
    view = t[1:]
    with_view = _holders(t)
    del view
    storage = t.untyped_storage()
    with_storage = _holders(t)
    del storage
    return with_view != alone and with_storage != alone and _holders(t) == alone


#: The count of references to a tensor storage (a private function of torch; where it is
#: missing or does not count as expected, nothing is reused).
_use_count = getattr(torch._C, "_storage_Use_Count", None)
if _use_count is not None and not _counts_holders():
    _use_count = None
