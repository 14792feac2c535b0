"""Recognising a full disk however a library reports it, and naming the file and the disk."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError

from peft_rlvr_bench.disk import disk_full_reason, file_of, is_disk_full, mount_point


def test_full_disks_are_recognised_in_each_form_and_nothing_else_is() -> None:
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(SafetensorError('IoError(Os { code: 28, kind: StorageFull, message: "No space" })'))
    assert is_disk_full(RuntimeError("[enforce fail at inline_container.cc:595] . No space left on device"))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("saving failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("code: 2"))


def test_the_file_comes_from_the_exception_or_its_traceback(tmp_path: Path) -> None:
    assert file_of(OSError(errno.ENOSPC, "full", "/a/b.json")) == "/a/b.json"

    def save(tensors: dict[str, torch.Tensor], filename: str) -> None:
        raise SafetensorError("No space left on device")

    target = tmp_path / "update_000003.safetensors"
    with pytest.raises(SafetensorError) as caught:
        save({}, str(target))
    assert file_of(caught.value) == str(target)
    reason = disk_full_reason(caught.value, tmp_path)
    assert reason.startswith(f"disk full writing {target} (disk {mount_point(tmp_path)}):")


def test_mount_point_of_a_missing_path_is_its_disk(tmp_path: Path) -> None:
    assert os.path.ismount(mount_point(tmp_path / "not" / "there"))
