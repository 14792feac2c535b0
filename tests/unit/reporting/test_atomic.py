"""Atomic writes: a failed write removes its temporary file, a full disk names the file, and the
sweep removes abandoned temporary files (dead writer, or too old) but not a live writer's."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from peft_rlvr_bench.reporting.atomic import (
    ABANDONED_AFTER_S,
    atomic_write,
    sweep_temporaries,
    write_text_atomic,
)


def test_a_failed_write_leaves_nothing_and_a_full_disk_names_the_file(tmp_path: Path) -> None:
    target = tmp_path / "runs" / "x.json"

    def full(handle: BinaryIO) -> None:
        handle.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as caught:
        atomic_write(target, full)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)
    assert list(target.parent.iterdir()) == []

    def broken(handle: BinaryIO) -> None:
        raise ValueError("bug")

    with pytest.raises(ValueError):
        atomic_write(target, broken)
    assert list(target.parent.iterdir()) == []
    write_text_atomic(target, "ok\r\n")
    assert target.read_bytes() == b"ok\r\n" and [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_the_sweep_removes_abandoned_temporaries_only(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    nested = tmp_path / "runs"
    nested.mkdir()
    abandoned = nested / f".r.json.abcd1234.{dead_pid}.tmp"
    live = tmp_path / f".base.json.abcd1234.{os.getppid()}.tmp"
    mine = tmp_path / f".leaderboard.md.abcd1234.{os.getpid()}.tmp"
    legacy_old = tmp_path / ".base.json.zzzz9999.tmp"
    legacy_new = tmp_path / ".base.json.yyyy8888.tmp"
    unrelated = tmp_path / ".notes.tmp"
    for path in (abandoned, live, mine, legacy_old, legacy_new, unrelated):
        path.write_text("x")
    old = time.time() - ABANDONED_AFTER_S - 60
    os.utime(legacy_old, (old, old))
    removed = sweep_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted([abandoned.name, legacy_old.name])
    assert live.exists() and mine.exists() and legacy_new.exists() and unrelated.exists()
    assert sweep_temporaries(tmp_path / "absent") == []
