"""Readers for leaderboard columns: a ``RunResult`` in, a number (or per-item scores) out, None
where the run does not have it (``reporting/metrics.py`` declares the columns that use them)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import RunItems, TaskItems


def number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else value


def field(*path: str) -> Callable[[RunResult], float | None]:
    """A reader that follows ``path`` through attributes and dict keys of a run result.

    Missing steps, None and nan all read as None (not measured), so an entry for a field that
    older result files lack needs no special case.
    """

    def read(run: RunResult) -> float | None:
        return number(raw_field(run, path))

    read.__doc__ = f"RunResult.{'.'.join(path)}"
    read.path = path  # type: ignore[attr-defined]  # for is_non_finite
    return read


def raw_field(run: RunResult, path: tuple[str, ...]) -> object:
    """The value at ``path`` in a run result, as stored (None where a step is missing)."""
    value: object = run
    for key in path:
        value = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
        if value is None:
            return None
    return value


def role_score(role: str) -> Callable[[RunResult], float | None]:
    """The score of an evaluation role (``in_domain``, ``out_of_domain``, ``forgetting``)."""
    return field("metrics", role, "score")


def role_items(role: str, scores: str = "items") -> Callable[[RunResult], RunItems | None]:
    """A reader of a role's per-item scores by task (``items`` greedy, ``sampled_items`` avg@k).

    None when any task of the role lacks them or their digest (results written before per-item
    scores existed): the statistics then fall back to the seed-level t.
    """

    def read(run: RunResult) -> RunItems | None:
        role_score = run.metrics.get(role)
        if role_score is None or not role_score.tasks:
            return None
        found: dict[str, TaskItems] = {}
        for task, score in role_score.tasks.items():
            values = getattr(score, scores)
            if values is None or score.items_digest is None:
                return None
            found[task] = TaskItems(score.items_digest, tuple(values))
        return found

    return read


def learning_rate(run: RunResult) -> float | None:
    adapter = run.spec.get("adapter")
    rate = adapter.get("lr") if isinstance(adapter, dict) else None
    return None if rate is None else float(rate)


def median_step_seconds(run: RunResult) -> float | None:
    seconds = [step.step_seconds for step in run.train_curve if step.step_seconds is not None]
    return statistics.median(seconds) if seconds else None


def updates_used(run: RunResult) -> float | None:
    if run.extrapolation is not None:
        return number(run.extrapolation.get("updates_used"))
    budget = run.spec.get("budget")
    return number(budget.get("max_steps")) if isinstance(budget, dict) else None
