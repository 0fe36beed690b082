"""Keeping freed memory in the process, so that CPU tensors stop costing page faults.

On Linux, glibc's malloc hands every allocation above a threshold (at most 32 MiB) straight to
the operating system with ``mmap`` and returns it with ``munmap`` when it is freed, and gives
the top of its heap back once more than twice that lies free there. A tensor in such memory
is new to the kernel: touching each 4 KiB page of it the first time costs a page fault (the
kernel also zeroes it). A Zipformer forward allocates and frees the same large tensors call
after call, so it pays those faults every time: Zipformer-M, 1 x 30 s, eval, 2 threads, about
33,000 faults (130 MB) per call, and a training step of Zipformer-S 150,000-380,000.

:func:`keep_freed_memory` turns both off (``mallopt``: no ``mmap`` for any size, no trimming
below 2 GiB of free heap): freed memory stays with the process and the next call reuses it,
with no faults once the heap has grown to the largest call's size. Measured (Intel Xeon,
2 threads, torch 2.13, 2026-12-07, one process each): Zipformer-M 1 x 30 s eval 0.403 s ->
0.371 s, Zipformer-S training step 1 x 30 s 1.154 s -> 1.067 s. This holds for tensors
allocated by the main thread: glibc serves other Python threads from arenas of their own,
which it still maps and unmaps (a recognizer running in a worker thread gains nothing).
Where a user has tuned malloc already (``GLIBC_TUNABLES``, ``MALLOC_*_`` variables, or another
allocator in ``LD_PRELOAD``), the ``zipasr`` command leaves it alone.

The price: the process keeps its peak memory (it is not returned to the system between
calls, and free holes in the heap are only reused, not unmapped). This suits a process that
mostly runs models, which is why the ``zipasr`` command calls it (``ZIPASR_MALLOC=system``
leaves glibc's defaults); a program that uses zipasr as a library chooses for itself.
It is the same trade as jemalloc's or tcmalloc's caches, which PyTorch recommends for CPU
speed (``LD_PRELOAD``); those need the process to be started with them, this does not.

Elsewhere (macOS, Windows, a Linux with musl) these are no-ops that return False.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

#: mallopt's parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_MMAP_THRESHOLD = -3
#: What :func:`release_freed_memory` sets: glibc's default count of mmap'ed blocks, and the
#: thresholds glibc's own adaptation reaches in a process that frees large tensors (mmap
#: above 32 MiB, trim above twice that). Once set, glibc no longer adapts them, so its
#: starting values (128 KiB) would leave the process faulting more than before.
_DEFAULT_MMAP_MAX = 65536
_ADAPTED_MMAP_THRESHOLD = 32 << 20
_ADAPTED_TRIM_THRESHOLD = 64 << 20
#: mallopt takes a C int: the largest trim threshold it can set.
_NEVER_TRIM = 2**31 - 1

#: The environment variable that keeps glibc's defaults in the ``zipasr`` command.
ENV_VAR = "ZIPASR_MALLOC"

_keeping = [False]


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library of this process if it is glibc (it has ``mallopt`` and ``malloc_trim``)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018  (glibc only)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError, TypeError):
        return None
    return libc


def keep_freed_memory() -> bool:
    """Makes glibc keep freed memory for reuse instead of giving it back to the system (see
    the module's docstring); process-wide, until :func:`release_freed_memory`. Returns whether
    it took effect (False where the C library is not glibc)."""
    libc = _glibc()
    if libc is None:
        return False
    ok = libc.mallopt(_M_MMAP_MAX, 0) == 1
    _keeping[0] = bool(libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM) == 1 and ok)
    return _keeping[0]


def keeping_freed_memory() -> bool:
    """Whether :func:`keep_freed_memory` is in effect (processes that
    ``zipasr.train.distributed.launch`` starts inherit it)."""
    return _keeping[0]


def release_freed_memory() -> bool:
    """Ends :func:`keep_freed_memory`: blocks above 32 MiB are mmap'ed again and the heap's
    top is trimmed above 64 MiB free (the limits glibc adapts itself to in a process that
    frees large tensors; fixed from now on, as glibc stops adapting them once they are set),
    and the free memory goes back to the system now. Returns whether it took effect."""
    libc = _glibc()
    if libc is None:
        return False
    ok = libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX) == 1
    ok = libc.mallopt(_M_MMAP_THRESHOLD, _ADAPTED_MMAP_THRESHOLD) == 1 and ok
    ok = libc.mallopt(_M_TRIM_THRESHOLD, _ADAPTED_TRIM_THRESHOLD) == 1 and ok
    libc.malloc_trim(0)
    _keeping[0] = False
    return ok


def return_freed_memory() -> None:
    """Gives the heap's free memory back to the system now (``malloc_trim``), whether or not
    :func:`keep_freed_memory` is in effect; a no-op where the C library is not glibc."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


def user_tuned_malloc() -> str | None:
    """The environment variable by which the user chose malloc's settings or another
    allocator for this process, if any."""
    for name in ("MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                 "MALLOC_TOP_PAD_"):  # fmt: skip
        if name in os.environ:
            return name
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES"
    if "malloc" in os.environ.get("LD_PRELOAD", ""):  # jemalloc, tcmalloc, mimalloc
        return "LD_PRELOAD"
    return None


def keep_freed_memory_unless_disabled() -> bool:
    """:func:`keep_freed_memory`, unless the environment says ``ZIPASR_MALLOC=system`` or the
    user tuned malloc otherwise (:func:`user_tuned_malloc`); what the ``zipasr`` command calls
    first. Raises ValueError on a ``ZIPASR_MALLOC`` other than keep or system."""
    value = os.environ.get(ENV_VAR, "")
    choice = value.strip().lower() or "keep"  # empty: as if unset
    if choice == "system" or (choice == "keep" and user_tuned_malloc()):
        return False
    if choice != "keep":
        raise ValueError(
            f"{ENV_VAR}={value!r}: expected 'keep' (the default) or 'system' (another "
            "allocator, such as jemalloc, is chosen with LD_PRELOAD when the process starts)"
        )
    return keep_freed_memory()
