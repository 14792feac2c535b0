"""Before any heavy work: can this suite's files be written where they go?

A suite whose results folder sits under a file, in a read-only directory, or whose run ids are
too long for the file system would validate, evaluate the base model for minutes and only then
fail on its first write. These checks run at validation instead, against the real directories:
the limit on a name is the file system's own (``PC_NAME_MAX`` of the nearest existing folder).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.suite import Suite

TEMP_OVERHEAD = len(".") + len(".jsonl.gz") + len(".XXXXXXXX") + len(".hhhhhh-4194304") + len(".tmp")
"""What the longest file written for a run adds to its run id: the samples sidecar's temporary
file while it is written (``.<run_id>.jsonl.gz.<8 random>.<host>-<pid>.tmp``,
``reporting/atomic.py``; Linux pids have at most 7 digits)."""

DEFAULT_NAME_MAX = 255


def existing_ancestor(path: Path) -> Path:
    """``path`` itself or the nearest of its parents that exists (``.`` for a relative path)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def name_max(path: Path) -> int:
    """The longest file name the file system holding ``path`` (or its nearest parent) allows."""
    try:
        return int(os.pathconf(existing_ancestor(path), "PC_NAME_MAX"))
    except (OSError, ValueError):  # no such limit reported (some platforms): the common one
        return DEFAULT_NAME_MAX


def check_names(suite: Suite, roots: dict[str, Path]) -> None:
    """A ``UserError`` naming the suite file and field when the suite's name or a run id is too
    long to be a file name under any of ``roots`` ({option: directory})."""
    limit = min(name_max(root) for root in roots.values())
    where = suite.path
    if len(suite.spec.name) > limit:
        raise UserError(
            f"{where}: name: {len(suite.spec.name)} characters, over the {limit} a file name may have "
            f"here (it names results/<suite>/); shorten it"
        )
    room = limit - TEMP_OVERHEAD
    labels = {entry.display_name: i for i, entry in enumerate(suite.spec.adapters)}
    extrapolations = {entry.display_name: i for i, entry in enumerate(suite.spec.extrapolation)}
    for run in suite.runs:
        if len(run.run_id) > room:
            i = labels.get(run.adapter.label, 0)
            field = "label" if suite.spec.adapters[i].label else "name"
            raise UserError(
                f"{where}: adapters.{i}.{field}: makes run id {run.run_id[:40]}... {len(run.run_id)} "
                f"characters, over the {room} its files may have on this file system; shorten the label"
            )
    for derived in suite.derived:
        if len(derived.run_id) > room:
            i = extrapolations.get(derived.label, 0)
            raise UserError(
                f"{where}: extrapolation.{i}.label: makes run id {derived.run_id[:40]}... "
                f"{len(derived.run_id)} characters, over the {room} its files may have on this file "
                "system; shorten the label (or the adapter's)"
            )


def check_writable(roots: dict[str, Path]) -> None:
    """A ``UserError`` naming the option and the directory when one of ``roots`` ({option:
    directory}) cannot be created or written."""
    for option, root in roots.items():
        anchor = existing_ancestor(root)
        if not anchor.is_dir():
            raise UserError(f"{option} {root}: {anchor} is a file, not a directory; pass a directory")
        if not _can_create_in(anchor):
            raise UserError(
                f"{option} {root}: {anchor} is not writable by this user; fix its permissions or pass "
                "another directory"
            )


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created in ``folder``: a real try, since permission bits do not
    tell about read-only mounts, and an empty file removed at once leaves nothing behind."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".prb-write-check.", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def preflight(suite: Suite, results_dir: Path, outputs: Path, *, writable: bool = True) -> None:
    """Every check above for a suite about to run: its results go to ``results_dir/<suite>/``,
    its checkpoints to ``outputs/<suite>/``."""
    roots = {"--results-dir": results_dir / suite.spec.name, "$PRB_OUTPUTS_DIR": outputs / suite.spec.name}
    if writable:
        check_writable(roots)
    check_names(suite, roots)
