"""What a result was made under besides its spec: the world, the package versions, the hardware.

Every result records the exact base weights (the tiny world's hash, a hub model's revision), the
installed versions of the key packages, the hash of the committed lock and whether the installed
packages follow it, and the machine (CPU model, cores, torch threads, GPUs). Two results are
comparable when their worlds, key package versions and locks agree: those decide what the
harness computes. The processor is recorded but only noted, since fp32 kernels differ slightly
across processors and RL amplifies that into small differences between runs
(docs/reproducibility.md measures how small).
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

VERSIONED = (
    "torch",
    "transformers",
    "trl",
    "peft",
    "lm_eval",
    "accelerate",
    "datasets",
    "tokenizers",
    "peft_rlvr_bench",
)
"""The packages whose installed versions every result records (with Python's)."""

NOT_COMPARED = frozenset({"python", "peft_rlvr_bench"})
"""Recorded but not compared: the harness's own code is tracked by git and the run ids, and a
Python patch release changes no figure."""


class Hardware(BaseModel):
    """The machine a result was made on."""

    model_config = ConfigDict(extra="forbid")

    cpu: str | None = Field(None, description="CPU model name (/proc/cpuinfo), None where unknown")
    cpu_count: int | None = Field(None, description="logical CPUs of the machine")
    torch_threads: int | None = Field(None, description="torch.get_num_threads() in the run's process")
    gpu: str | None = Field(None, description="name of the first CUDA device; None without one")
    gpu_count: int = 0
    load_average: float | None = Field(
        None,
        description="the machine's 1-minute load average when the result was written (os.getloadavg): "
        "with torch_threads, whether its timings were taken on an idle machine (timings_contended)",
    )


def timings_contended(hardware: Hardware | None) -> bool | None:
    """Whether a result's timings were taken while other work competed for the CPUs: the load
    average exceeds the run's own torch threads by one CPU or more. None where not recorded."""
    if hardware is None or hardware.load_average is None or hardware.torch_threads is None:
        return None
    return hardware.load_average - hardware.torch_threads >= 1.0


class LockState(BaseModel):
    """The committed lock the install was made from, and how the installed packages follow it."""

    model_config = ConfigDict(extra="forbid")

    file: str = Field(description="the lock's path in the repository")
    sha256: str
    deviations: dict[str, str] = Field(
        default_factory=dict,
        description="locked packages installed at another version: {package: 'installed X, lock Y'}",
    )


class Environment(BaseModel):
    """A result's world, lock and hardware (package versions are the result's ``versions``)."""

    model_config = ConfigDict(extra="forbid")

    world: dict[str, Any] = Field(
        description="tiny: model, artifact, recipe_key, hash; a hub model: model, path, revision"
    )
    lock: LockState | None = Field(None, description="None when the install has no lock file")
    hardware: Hardware = Field(default_factory=Hardware)


class Provenance(Protocol):
    """Anything that carries a result's versions and environment (a RunResult, or a Stamp)."""

    @property
    def versions(self) -> Mapping[str, str]: ...

    @property
    def environment(self) -> Environment | None: ...


@dataclass(frozen=True)
class Stamp:
    """The versions and environment of this process, to compare existing results with."""

    versions: Mapping[str, str]
    environment: Environment | None


# Collecting ---------------------------------------------------------------------------------------


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def cpu_model() -> str | None:
    """The CPU's model name: /proc/cpuinfo on Linux, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def collect_hardware() -> Hardware:
    """The machine as this process sees it (imports torch)."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return Hardware(
        cpu=cpu_model(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        gpu=torch.cuda.get_device_name(0) if gpus else None,
        gpu_count=gpus,
        load_average=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    )


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> dict[str, str]:
    """``{normalised package name: version}`` of a pip constraints file's ``name==version`` lines."""
    pins = {}
    for line in text.splitlines():
        requirement = line.split("#", 1)[0].split(";", 1)[0].strip()
        name, sep, version = requirement.partition("==")
        if sep and name.strip() and version.strip():
            pins[_normalise(name.strip())] = version.strip()
    return pins


def lock_deviations(pins: Mapping[str, str], installed: Mapping[str, str]) -> dict[str, str]:
    """Locked packages installed at another version. A local label (``+cpu``) is ignored, as pip's
    ``==`` does; a locked package that is not installed here (another platform's) is not a deviation."""
    from packaging.version import InvalidVersion, Version

    def public(version: str) -> str:
        try:
            return Version(version).public
        except InvalidVersion:
            return version

    return {
        name: f"installed {installed[name]}, lock {locked}"
        for name, locked in sorted(pins.items())
        if name in installed and public(installed[name]) != public(locked)
    }


def lock_state(path: Path | None, root: Path | None = None) -> LockState | None:
    """The lock at ``path`` (None: no lock file), its hash and the installed packages' deviations."""
    if path is None or not path.is_file():
        return None
    data = path.read_bytes()
    installed = {_normalise(d.metadata["Name"]): d.version for d in metadata.distributions() if d.metadata}
    shown = path.relative_to(root).as_posix() if root is not None and path.is_relative_to(root) else str(path)
    return LockState(
        file=shown,
        sha256=hashlib.sha256(data).hexdigest(),
        deviations=lock_deviations(parse_lock(data.decode()), installed),
    )


# Comparing ----------------------------------------------------------------------------------------


def _short(value: str) -> str:
    return value[:12] if re.fullmatch(r"[0-9a-f]{13,}", value) else value


def differences(old: Provenance, new: Provenance) -> list[str]:
    """What makes ``old``'s figures incomparable with ``new``'s, one phrase per difference.

    Compared where both record it: the world hash (a hub model's revision), every key package
    version but Python's and the harness's, and the lock's hash. Results written before these
    records existed are judged on what they have. The CPU is never a difference (``cpu_change``).
    """
    found = []
    old_env, new_env = old.environment, new.environment
    if old_env is not None and new_env is not None:
        for key in ("hash", "revision"):
            before, after = old_env.world.get(key), new_env.world.get(key)
            if before and after and before != after:
                found.append(f"world {key} {_short(before)} -> {_short(after)}")
    for name in sorted((set(old.versions) & set(new.versions)) - NOT_COMPARED):
        if old.versions[name] != new.versions[name]:
            found.append(f"{name} {old.versions[name]} -> {new.versions[name]}")
    old_lock = old_env.lock if old_env is not None else None
    new_lock = new_env.lock if new_env is not None else None
    if old_lock is not None and new_lock is not None and old_lock.sha256 != new_lock.sha256:
        found.append(f"lock {old_lock.sha256[:12]} -> {new_lock.sha256[:12]}")
    return found


def cpu_change(old: Provenance, new: Provenance) -> str | None:
    """``'A -> B'`` when both record a CPU model and they differ, else None."""
    before = old.environment.hardware.cpu if old.environment is not None else None
    after = new.environment.hardware.cpu if new.environment is not None else None
    return f"{before} -> {after}" if before and after and before != after else None
