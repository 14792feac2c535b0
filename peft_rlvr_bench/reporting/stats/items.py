"""Per-item scores of runs, lined up into seeds x items tables when (and only when) they pair.

A run's scores on one task are only comparable with another run's when both scored the same
items in the same order: the result files say so with ``items_digest`` (a hash of the eval
items). Anything short of every run having every task with one digest and one length gives None,
and the caller falls back to the seed-level Student t.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TaskItems:
    """One run's per-item scores on one task, and the digest of the items they score."""

    digest: str
    scores: tuple[float, ...]


RunItems = Mapping[str, TaskItems]
"""One run's per-item scores, by task name (the tasks of one role)."""


def item_tables(runs: Sequence[RunItems | None]) -> dict[str, np.ndarray] | None:
    """``{task: (S, I_t) array}`` of the runs' item scores (row s is ``runs[s]``), in task-name order.

    None unless every run has item scores for the same tasks, each task with one digest and one
    item count across the runs and no nan: otherwise the scores cannot be lined up item by item.
    """
    present = [run for run in runs if run]
    if not runs or len(present) != len(runs):
        return None
    tasks = sorted(present[0])
    if any(sorted(run) != tasks for run in present):
        return None
    tables: dict[str, np.ndarray] = {}
    for task in tasks:
        entries = [run[task] for run in present]
        digest, length = entries[0].digest, len(entries[0].scores)
        if length < 2 or any(e.digest != digest or len(e.scores) != length for e in entries):
            return None
        table = np.array([entry.scores for entry in entries], dtype=float)
        if np.isnan(table).any():
            return None
        tables[task] = table
    return tables


def paired_item_tables(
    a: Sequence[RunItems | None], b: Sequence[RunItems | None]
) -> dict[str, np.ndarray] | None:
    """``{task: A - B}`` seeds x items tables of two arms' runs on shared seeds (``a[s]`` pairs ``b[s]``).

    None unless both arms line up (:func:`item_tables`) on the same tasks with the same digests.
    """
    tables_a, tables_b = item_tables(a), item_tables(b)
    if tables_a is None or tables_b is None or set(tables_a) != set(tables_b):
        return None
    first_a, first_b = a[0] or {}, b[0] or {}
    if any(first_a[task].digest != first_b[task].digest for task in tables_a):
        return None
    return {task: tables_a[task] - tables_b[task] for task in tables_a}


def fixed_minus_runs(fixed: RunItems | None, runs: Sequence[RunItems | None]) -> dict[str, np.ndarray] | None:
    """``{task: fixed - run}`` seeds x items tables: one fixed model (the base) against each run.

    Forgetting is base minus tuned per seed; on items it is the base's item score minus the
    run's, which keeps the pairing on items (None unless everything lines up).
    """
    tables = item_tables(runs)
    if fixed is None or tables is None or set(fixed) != set(tables):
        return None
    first = runs[0] or {}
    differences = {}
    for task, table in tables.items():
        entry = fixed[task]
        if entry.digest != first[task].digest or len(entry.scores) != table.shape[1]:
            return None
        differences[task] = np.asarray(entry.scores, dtype=float)[None, :] - table
    return differences
