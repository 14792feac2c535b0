"""Where things live outside git: the tiny-world cache, per-run scratch outputs, the lock file.

Every path a run writes is named here, so the runner, the claims plots and the CLI agree on them.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$PRB_CACHE_DIR``, else ``$XDG_CACHE_HOME/peft-rlvr-bench``, else ``~/.cache/...``."""
    if env := os.environ.get("PRB_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "peft-rlvr-bench"


def outputs_dir() -> Path:
    """Checkpoints and trainer scratch: ``$PRB_OUTPUTS_DIR`` or the ignored ``outputs/``."""
    return Path(os.environ.get("PRB_OUTPUTS_DIR", "outputs"))


def run_dir(suite: str, run_id: str) -> Path:
    """Scratch and checkpoints of one run, outside git."""
    return outputs_dir() / suite / run_id


def final_dir(suite: str, run_id: str) -> Path:
    """The run's trained model: a plain HF checkpoint or a PEFT adapter directory."""
    return run_dir(suite, run_id) / "final"


def trajectory_dir(suite: str, run_id: str) -> Path:
    """The run's recorded weight trajectory (``trajectory/``)."""
    return run_dir(suite, run_id) / "trajectory"


LOCK_FILE = "requirements/cpu.txt"
"""The committed pip constraints `make install` uses, relative to the repository root."""


def repo_root() -> Path:
    """The directory above the package: the repository for a checkout or an editable install."""
    return Path(__file__).resolve().parents[1]


def lock_file() -> Path | None:
    """The committed lock next to the package, or None (a wheel install ships none)."""
    path = repo_root() / LOCK_FILE
    return path if path.is_file() else None
