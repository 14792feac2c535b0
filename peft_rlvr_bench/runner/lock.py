"""One runner per run: a lock file in the run's output directory.

Two runners on one run would interleave trainer checkpoints, trajectory records and results.
``run_lock`` creates ``<run dir>/.lock`` exclusively (``O_CREAT | O_EXCL``) with the holder's host
and pid, and removes it when the run's result is written. A lock left by a process that is gone
(a SIGKILL, a power cut) is stale: on the same host a dead pid proves it, and the new runner takes
it over with a message. A live holder, or one on another host (its pid cannot be checked from
here), stops the new runner with a one-line error that says how to go on.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from peft_rlvr_bench.errors import UserError

LOCK_FILE = ".lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _holder(path: Path) -> dict[str, object] | None:
    """The lock's content; None when it is unreadable (a holder killed while writing it)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextmanager
def run_lock(directory: Path, run_id: str) -> Iterator[None]:
    """Holds ``directory/.lock`` for the block; raises UserError if a live runner holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for _ in range(3):  # two runners taking over the same stale lock: one wins the O_EXCL create
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            _take_over_if_stale(path, run_id, me["host"])
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(me))
        break
    else:
        raise UserError(f"{path}: could not lock run {run_id}; another runner keeps taking it, retry later")
    try:
        yield
    finally:
        if (_holder(path) or {}).get("pid") == me["pid"]:
            path.unlink(missing_ok=True)


def _take_over_if_stale(path: Path, run_id: str, host: str) -> None:
    holder = _holder(path)
    if holder is None:
        age = time.time() - path.stat().st_mtime if path.exists() else 0.0
        if age < 5:  # being written right now by a runner that just took it
            time.sleep(0.5)
            if _holder(path) is not None:
                raise _held(path, run_id, _holder(path) or {})
        print(f"{run_id}: removing an unreadable lock file {path}", file=sys.stderr)
        path.unlink(missing_ok=True)
        return
    pid = holder.get("pid")
    if holder.get("host") == host and isinstance(pid, int) and not _alive(pid):
        print(
            f"{run_id}: stale lock {path} (pid {pid} on {host} is no longer running); taking it over",
            file=sys.stderr,
        )
        path.unlink(missing_ok=True)
        return
    raise _held(path, run_id, holder)


def _held(path: Path, run_id: str, holder: dict[str, object]) -> UserError:
    where = f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"
    return UserError(
        f"{path}: run {run_id} is being run by {where}; wait for it to finish or stop it "
        "(if that machine's runner is gone, delete the lock file and rerun)"
    )
