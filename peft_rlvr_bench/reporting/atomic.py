"""Atomic file writes and the sweep that removes what a killed writer left.

Every file under ``results/`` (run results, ``base.json``, samples sidecars, leaderboards, claims)
is written to a temporary file next to it and renamed into place, so none is ever half written.
A writer killed before its rename leaves its temporary file behind; its name carries the
writer's host and process id (``.<name>.<random>.<host>-<pid>.tmp``), so the next run can tell
an abandoned one (its process is gone) from one being written right now by a concurrent runner,
and remove it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import BinaryIO

from peft_rlvr_bench.crashpoints import crash_point

TEMPORARY = re.compile(r"^\.(?P<target>.+)\.[A-Za-z0-9_]{8}(?:\.(?P<host>[0-9a-f]{6})-(?P<pid>\d+))?\.tmp\Z")
"""A temporary file of ``atomic_write`` (and, without host and pid, of the versions before it)."""

ABANDONED_AFTER_S = 3600.0
"""A temporary file whose writer on this host is gone is removed at once; one written on
another host sharing the folder (a Ray cluster) only once it is older than this: no write takes
an hour."""


def host_tag() -> str:
    """Six hex digits naming this host in temporary file names (a pid means nothing elsewhere)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def disk_full_error(exc: OSError, path: Path) -> OSError:
    """``exc`` (errno ENOSPC) with ``path`` as its file name, so every report names the file."""
    full = OSError(errno.ENOSPC, exc.strerror or os.strerror(errno.ENOSPC), str(path))
    full.__cause__ = exc
    return full


def user_file_mode() -> int:
    """The permission bits ``open(path, "w")`` would give a new file: 0o666 less the umask.

    ``mkstemp`` creates its file 0600 whatever the umask, which makes results unreadable on a
    shared filesystem or a web server; atomic writers chmod their temporary file to this.
    """
    try:
        # /proc reads the umask without changing it (os.umask would, for a moment, in every thread).
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Calls ``write`` on a temporary file in ``path``'s folder, syncs it and renames it to
    ``path``. On any failure (a full disk too) the temporary file is removed; a full disk is
    raised as an ``OSError`` naming ``path``. The file gets the user's umask, as a plain
    ``open`` would (``mkstemp`` alone makes it 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = f".{host_tag()}-{os.getpid()}.tmp"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        os.fchmod(fd, user_file_mode())
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        crash_point(f"write:{path.name}")
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise disk_full_error(exc, path) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Writes ``text`` to ``path`` as UTF-8, byte for byte (CSV writers choose their own line
    endings), via ``atomic_write``."""
    data = text.encode("utf-8")
    atomic_write(path, lambda handle: handle.write(data))


def _writer_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def sweep_temporaries(folder: Path, owned: Collection[str] = ()) -> list[Path]:
    """Removes every abandoned temporary file anywhere under ``folder``; returns them.

    ``owned`` names files only the caller writes (a run's result and sidecar, under its run
    lock): their temporary files are removed whoever left them."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now, here = time.time(), host_tag()
    for candidate in folder.rglob(".*.tmp"):
        match = TEMPORARY.match(candidate.name)
        if match is None or not candidate.is_file():
            continue
        try:
            old = now - candidate.stat().st_mtime > ABANDONED_AFTER_S
        except FileNotFoundError:  # its writer renamed it meanwhile
            continue
        pid = int(match.group("pid")) if match.group("pid") else None
        dead_here = match.group("host") == here and pid != os.getpid() and not _writer_alive(pid or 0)
        if old or dead_here or match.group("target") in owned:
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed
