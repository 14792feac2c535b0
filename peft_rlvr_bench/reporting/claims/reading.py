"""Reading the claims' numbers out of run results: per-seed arms, with per-item scores where they pair.

An :class:`Arm` is one quantity of one method by seed (a role's accuracy, a geometry value, a
derived run's recovered share...), plus the per-item scores behind it when it is an accuracy whose
items were stored. Two arms give a :class:`~peft_rlvr_bench.reporting.stats.PairedComparison`
on the seeds both have; with items on both sides the statistics module makes it seeds x items.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from peft_rlvr_bench.reporting.metrics import role_items
from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import (
    Interval,
    PairedComparison,
    RunItems,
    mean,
    paired_comparison,
    t_interval,
)
from peft_rlvr_bench.reporting.steps_saved import accuracy_on_first_items, curve_items

Runs = Mapping[str, Mapping[int, RunResult]]
"""Ok results by method label (a derived run: its display name) and seed."""

ITEM_TOLERANCE = 1e-6
"""Item scores must average to the stored score within this to stand for it."""


def by_method(runs: Sequence[RunResult]) -> dict[str, dict[int, RunResult]]:
    """The ok runs with a seed, by method and seed."""
    table: dict[str, dict[int, RunResult]] = defaultdict(dict)
    for run in runs:
        if run.status == "ok" and run.seed is not None:
            table[run.method][run.seed] = run
    return dict(table)


def derived_with(runs: Runs, source: str, method: str, observe: int | None = None) -> str | None:
    """The display name of the derived runs of ``source`` by extrapolation ``method`` (and ``observe``)."""
    for name, seeds in sorted(runs.items()):
        info = next(iter(seeds.values())).extrapolation or {}
        matches = info.get("source_method") == source and info.get("method") == method
        if matches and (observe is None or info.get("observe") == observe):
            return name
    return None


@dataclass(frozen=True)
class Arm:
    """One quantity of one method, by seed, and the per-item scores behind it (or None)."""

    values: dict[int, float]
    items: dict[int, RunItems | None] | None = None

    def estimate(self) -> Interval:
        """The mean over seeds with its 95% Student-t interval."""
        return t_interval([self.values[seed] for seed in sorted(self.values)])


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def arm(runs: Runs, method: str | None, read: Callable[[RunResult], float | None]) -> Arm | None:
    """``read`` of every seed of ``method`` that has it; None when none does."""
    if method is None:
        return None
    values = {seed: v for seed, run in runs.get(method, {}).items() if (v := _finite(read(run))) is not None}
    return Arm(values) if values else None


def role_arm(runs: Runs, method: str | None, role: str) -> Arm | None:
    """A role's accuracy by seed, with its per-item scores when every seed's items average to it."""
    found = arm(runs, method, lambda run: run.metrics[role].score if role in run.metrics else None)
    if found is None or method is None:
        return None
    read_items = role_items(role)
    items: dict[int, RunItems | None] = {}
    for seed in found.values:
        scores = read_items(runs[method][seed])
        consistent = scores is not None and abs(_items_mean(scores) - found.values[seed]) <= ITEM_TOLERANCE
        items[seed] = scores if consistent else None
    return Arm(found.values, items)


def _items_mean(scores: RunItems) -> float:
    # A role score is the unweighted mean of its tasks' accuracies.
    return mean([mean(list(task.scores)) for task in scores.values()])


def constant(value: float, like: Arm) -> Arm:
    """``value`` at every seed of ``like``: the other arm of a one-sample test."""
    return Arm(dict.fromkeys(like.values, value))


def compare(a: Arm | None, b: Arm | None) -> PairedComparison | None:
    """A minus B on the seeds both have (seeds x items when both carry items); None when they share none."""
    if a is None or b is None or not set(a.values) & set(b.values):
        return None
    return paired_comparison(a.values, b.values, a.items, b.items)


# Readers --------------------------------------------------------------------------------------


def extrapolation_value(key: str) -> Callable[[RunResult], float | None]:
    """A derived run's ``extrapolation[key]`` (``gain_recovery``, ``updates_used``...)."""
    return lambda run: (run.extrapolation or {}).get(key)


def geometry_value(key: str) -> Callable[[RunResult], float | None]:
    """A trained run's headline geometry: ``update_sparsity`` or a mean over block matrices."""

    def read(run: RunResult) -> float | None:
        headline = (run.geometry or {}).get("headline") or {}
        if key == "update_sparsity":
            return headline.get("update_sparsity")
        return (headline.get("means") or {}).get(key)

    return read


def principal_excess(run: RunResult) -> float | None:
    """Share of changed coordinates in W0's principal mask minus its random baseline."""
    overlap, baseline = geometry_value("princ_overlap")(run), geometry_value("princ_baseline")(run)
    return None if overlap is None or baseline is None else overlap - baseline


def last_reward(updates: int) -> Callable[[RunResult], float | None]:
    """Mean training reward over a run's last ``updates`` logged updates."""

    def read(run: RunResult) -> float | None:
        rewards = [step.reward_mean for step in run.train_curve if step.reward_mean is not None]
        return mean(rewards[-updates:]) if rewards else None

    return read


def curve_at(run: RunResult, update: int) -> float | None:
    """In-domain accuracy of a run's learning curve at ``update`` (None when not recorded)."""
    return next((point.in_domain for point in run.learning_curve if point.update == update), None)


def on_source_curve_items(runs: Runs, derived: RunResult, source: str) -> float | None:
    """A derived run's in-domain accuracy on the items its source's learning curve scores (the
    first ``eval.curve_items``), so it compares with a curve point on the same items."""
    real = runs.get(source, {}).get(derived.seed) if derived.seed is not None else None
    if real is None or "in_domain" not in derived.metrics:
        return None
    return accuracy_on_first_items(derived, curve_items(real))[0]


def source_at_updates_used(runs: Runs, derived: str | None, source: str) -> Arm | None:
    """The source run's learning curve, seed by seed, at the real updates each derived run used."""
    if derived is None:
        return None
    values = {}
    for seed, run in runs.get(derived, {}).items():
        used = (run.extrapolation or {}).get("updates_used")
        real = runs.get(source, {}).get(seed)
        value = curve_at(real, int(used)) if real is not None and used is not None else None
        if value is not None:
            values[seed] = value
    return Arm(values) if values else None
