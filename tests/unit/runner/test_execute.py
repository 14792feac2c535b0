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
    assert "(disk /" in result.reason and "free space" in result.reason


def test_a_full_disk_inside_safetensors_names_the_file_and_the_disk(
    tmp_path: Path, outputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """safetensors reports ENOSPC as a SafetensorError whose text carries the OS error."""
    import safetensors.torch
    from safetensors import SafetensorError

    from peft_rlvr_bench.disk import mount_point
    from peft_rlvr_bench.runner.execute import execute_run

    def full(tensors: Any, filename: str, **kwargs: Any) -> None:
        raise SafetensorError(
            "Error while serializing: IoError(Os { code: 28, kind: StorageFull, "
            'message: "No space left on device" })'
        )

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    (run,) = tiny_suite(tmp_path, ["{name: full, lr: 1.0e-4}"], extra="trajectory: {every: 1}\n").runs
    result = execute_run(run)
    assert result.status == "failed" and result.reason is not None
    assert result.reason.startswith("disk full writing ") and "update_000000.safetensors" in result.reason
    assert f"(disk {mount_point(outputs)})" in result.reason
