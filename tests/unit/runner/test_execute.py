"""Executing one run: a failure inside it becomes a result with a reason."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.suites import tiny_suite

# A full disk -----------------------------------------------------------------------------------


def _no_space(path: Any, *args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_full_disk_fails_the_run_with_a_reason_naming_the_disk(
    tmp_path: Path, outputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.torch

    from peft_rlvr_bench.runner.execute import execute_run

    monkeypatch.setattr(safetensors.torch, "save_file", lambda tensors, path, **kw: _no_space(path))
    (run,) = tiny_suite(tmp_path, ["{name: full, lr: 1.0e-4}"], extra="trajectory: {every: 1}\n").runs
    result = execute_run(run)
    assert result.status == "failed"
    assert result.reason.startswith("disk full writing ") and "update_000000.safetensors" in result.reason
    assert "no space left on the device holding" in result.reason and "free space" in result.reason
