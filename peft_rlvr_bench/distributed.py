"""Where this process stands in an ``accelerate launch`` (torchrun) job, read from its environment.

One run can span several processes (``launch: {processes: N}`` in a suite). All of them train;
only the main one (rank 0) writes results, trajectories and checkpoints and evaluates. These
helpers read the variables torchrun sets, so they cost nothing and import neither torch nor
accelerate (``run_device`` imports torch when called); outside a launched job they say "one
process, the main one".
"""

from __future__ import annotations

import os


def world_size() -> int:
    """Processes in the job (1 outside ``accelerate launch``)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    """The process that writes files and evaluates: rank 0, or the only one."""
    return rank() == 0


def split_batch(global_batch: int, processes: int, what: str = "batch") -> int:
    """A global batch split evenly over ``processes``, so a recipe means the same optimizer
    update whatever the process count (suite validation checks the divisibility)."""
    if global_batch % processes:
        raise ValueError(f"{what} {global_batch} does not split evenly over {processes} processes")
    return global_batch // processes


def run_device() -> str:
    """Where this process trains and evaluates: its GPU (one per process when launched), else the CPU."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{local_rank()}" if world_size() > 1 else "cuda"
