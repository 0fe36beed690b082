"""Data-parallel training across processes: set-up from ``torchrun``'s environment, rank helpers.

``torchrun --nproc_per_node N -m zipasr.cli.main train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; :func:`setup` reads them and joins the
process group (NCCL on GPUs, gloo on CPU). Without them the run is a single process.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from zipasr.allocator import keep_freed_memory, keeping_freed_memory


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` picks this process's GPU when there is one, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device='cuda' but no CUDA GPU is visible; use device=cpu or auto")
        return torch.device("cuda", local_rank)
    if name != "cpu":
        raise ValueError(f"device={name!r}; choose auto, cpu or cuda")
    return torch.device("cpu")


def setup(device: str = "auto") -> DistInfo:
    """Joins the process group described by the environment (if any) and picks the device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend, rank=rank, world_size=world_size)
    return DistInfo(rank, world_size, local_rank, dev)


def cleanup() -> None:
    """Leaves the process group (a no-op for a single process)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all processes (for logging totals)."""
    if not dist.is_initialized():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def launch(
    fn: Callable[..., Any], args: tuple[Any, ...], processes: int, threads_per_process: int = 1
) -> None:
    """Runs ``fn(*args)`` in ``processes`` local processes that form one data-parallel group,
    as ``torchrun --nproc_per_node`` would on one machine (gloo on CPU), and waits for them.

    On a CPU, N single-threaded processes splitting a batch are faster than one process with N
    threads: small tensor operations parallelise poorly inside one process. An exception in any
    process is raised here. The processes keep freed memory as this one does
    (:func:`zipasr.allocator.keep_freed_memory`).
    """
    if processes < 1 or threads_per_process < 1:
        raise ValueError(f"processes={processes} and threads_per_process={threads_per_process}")
    import torch.multiprocessing as mp

    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(
        _worker,
        args=(fn, args, processes, port, threads_per_process, keeping_freed_memory()),
        nprocs=processes,
        join=True,
        start_method="spawn",
    )


def _worker(
    rank: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    world_size: int,
    port: int,
    threads: int,
    keep_memory: bool,
) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(threads)
    if keep_memory:
        keep_freed_memory()
    fn(*args)
