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

from peft_rlvr_bench.reporting import atomic as atomic_module
from peft_rlvr_bench.reporting.atomic import (
    ABANDONED_AFTER_S,
    TEMPORARY,
    atomic_write,
    host_tag,
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
    here = host_tag()
    elsewhere = "000000" if here != "000000" else "ffffff"
    nested = tmp_path / "runs"
    nested.mkdir()
    abandoned = nested / f".r.json.abcd1234.{here}-{int(dead.stdout)}.tmp"
    live = tmp_path / f".base.json.abcd1234.{here}-{os.getppid()}.tmp"
    mine = tmp_path / f".leaderboard.md.abcd1234.{here}-{os.getpid()}.tmp"
    other_host = tmp_path / f".leaderboard.csv.abcd1234.{elsewhere}-{int(dead.stdout)}.tmp"
    other_host_old = tmp_path / f".leaderboard.html.abcd1234.{elsewhere}-1.tmp"
    owned = nested / f".x-s0-1.json.abcd1234.{elsewhere}-1.tmp"
    legacy_old = tmp_path / ".base.json.zzzz9999.tmp"
    legacy_new = tmp_path / ".base.json.yyyy8888.tmp"
    unrelated = tmp_path / ".notes.tmp"
    for path in (abandoned, live, mine, other_host, other_host_old, owned, legacy_old, legacy_new, unrelated):
        path.write_text("x")
    old = time.time() - ABANDONED_AFTER_S - 60
    for path in (legacy_old, other_host_old):
        os.utime(path, (old, old))
    removed = sweep_temporaries(tmp_path, owned={"x-s0-1.json"})
    assert sorted(p.name for p in removed) == sorted(
        p.name for p in (abandoned, other_host_old, owned, legacy_old)
    )
    assert all(p.exists() for p in (live, mine, other_host, legacy_new, unrelated))
    assert sweep_temporaries(tmp_path / "absent") == []


def test_a_written_file_leaves_a_temporary_name_the_sweep_recognises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdopen = atomic_module.os.fdopen
    names: list[str] = []

    def fdopen(fd: int, *args: object, **kwargs: object) -> BinaryIO:
        names.extend(p.name for p in tmp_path.iterdir())  # the temporary file, before the write
        return real_fdopen(fd, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(atomic_module.os, "fdopen", fdopen)
    atomic_write(tmp_path / "base.json", lambda handle: handle.write(b"x"))
    (temporary,) = names
    match = TEMPORARY.match(temporary)
    assert match is not None and match.group("target") == "base.json"
    assert match.group("host") == host_tag() and int(match.group("pid")) == os.getpid()
