"""What every result records about where it was made: versions, git state, time, the environment."""

from __future__ import annotations

import resource
import subprocess
from datetime import datetime, timezone
from typing import Any

from peft_rlvr_bench.environment import (
    Environment,
    Hardware,
    Stamp,
    collect_hardware,
    cpu_model,
    lock_state,
    package_versions,
)
from peft_rlvr_bench.paths import lock_file, repo_root
from peft_rlvr_bench.suite import ModelSpec


def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the working tree the harness runs from, when it is a git repo."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit.strip(), "dirty": bool(status.strip())}


def peak_memory_mb() -> float:
    """The process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_gpu_peak() -> None:
    """Starts a run's GPU peak afresh (the allocator's peak otherwise spans every earlier run of
    the process); nothing without CUDA."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def gpu_memory() -> dict[str, Any] | None:
    """The run's peak GPU memory since ``reset_gpu_peak`` (this process's caching allocator, which
    holds a colocated vLLM engine's weights and KV cache; not another process's), with the device
    name and count; None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    return {
        "peak_allocated_mb": torch.cuda.max_memory_allocated() / 2**20,
        "peak_reserved_mb": torch.cuda.max_memory_reserved() / 2**20,
        "device": torch.cuda.get_device_name(0),
        "device_count": torch.cuda.device_count(),
    }


def environment(model: ModelSpec, hardware: Hardware | None = None) -> Environment:
    """The world ``model`` names, the lock and the hardware (collected here unless given)."""
    from peft_rlvr_bench.models import world_identity

    return Environment(
        world=world_identity(model),
        lock=lock_state(lock_file(), repo_root()),
        hardware=hardware if hardware is not None else collect_hardware(),
    )


def present_stamp(model: ModelSpec) -> Stamp:
    """What existing results of a suite on ``model`` are compared with; no torch import (the
    hardware holds the CPU model only, the one part of it a comparison reads)."""
    return Stamp(package_versions(), environment(model, Hardware(cpu=cpu_model())))


def provenance(model: ModelSpec) -> dict[str, Any]:
    """The result fields that say where and when it was made."""
    return {
        "versions": package_versions(),
        "git": git_state(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(model),
    }
