"""Where things live outside git: the tiny-world cache and per-run scratch outputs."""

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
