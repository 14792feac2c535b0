"""Aggregates across tasks as the RL-evaluation literature recommends: rliable (Agarwal et al.,
NeurIPS 2021): interquartile mean and mean over runs x tasks, probability of improvement, each
with rliable's stratified-bootstrap interval.

Its bootstrap is a percentile bootstrap over each task's runs, and that under-covers at a few
runs exactly like any percentile bootstrap over a few values (measured by :mod:`.calibration`;
``docs/statistics.md``). Callers show these aggregates only from :data:`MIN_BOOTSTRAP_SEEDS`
runs per method (:func:`bootstrap_valid`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from peft_rlvr_bench.reporting.stats.intervals import CONFIDENCE

MIN_BOOTSTRAP_SEEDS = 10
"""No percentile bootstrap over fewer seeds than this, anywhere."""
BOOTSTRAP_REPS = 2000
"""rliable's bootstrap replications per estimate (fixed random state: pages are deterministic)."""


@dataclass(frozen=True)
class Aggregate:
    """One method's aggregate over its runs x tasks score matrix, with 95% bootstrap intervals."""

    method: str
    runs: int
    tasks: int
    iqm: float
    iqm_low: float
    iqm_high: float
    mean: float
    mean_low: float
    mean_high: float


@dataclass(frozen=True)
class Improvement:
    """P(a run of ``method`` beats a run of ``other`` on a task), averaged over tasks, with its interval."""

    method: str
    other: str
    probability: float
    low: float
    high: float


def bootstrap_valid(scores: Mapping[str, np.ndarray]) -> bool:
    """True when every method has at least :data:`MIN_BOOTSTRAP_SEEDS` runs (rows)."""
    return bool(scores) and all(np.shape(matrix)[0] >= MIN_BOOTSTRAP_SEEDS for matrix in scores.values())


def _random_state(seed: int) -> np.random.RandomState:
    # rliable (through arch) takes a legacy RandomState; arch warns that it prefers a Generator,
    # which rliable cannot pass on.
    warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
    return np.random.RandomState(seed)


def aggregates(
    scores: Mapping[str, np.ndarray], reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> list[Aggregate]:
    """IQM and mean of each method's ``(runs, tasks)`` scores with rliable's stratified-bootstrap CIs."""
    from rliable import library as rly
    from rliable import metrics

    def both(matrix: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(matrix), metrics.aggregate_mean(matrix)])

    points, intervals = rly.get_interval_estimates(
        {method: np.asarray(matrix, dtype=float) for method, matrix in scores.items()},
        both,
        reps=reps,
        confidence_interval_size=CONFIDENCE,
        random_state=_random_state(seed),
    )
    return [
        Aggregate(
            method,
            int(np.shape(scores[method])[0]),
            int(np.shape(scores[method])[1]),
            float(points[method][0]),
            float(intervals[method][0, 0]),
            float(intervals[method][1, 0]),
            float(points[method][1]),
            float(intervals[method][0, 1]),
            float(intervals[method][1, 1]),
        )
        for method in scores
    ]


def probabilities_of_improvement(
    scores: Mapping[str, np.ndarray], method: str, reps: int = BOOTSTRAP_REPS, seed: int = 0
) -> list[Improvement]:
    """rliable's probability of improvement of ``method`` over every other method, with its interval."""
    from rliable import library as rly
    from rliable import metrics

    pairs = {
        other: (np.asarray(scores[method], dtype=float), np.asarray(matrix, dtype=float))
        for other, matrix in scores.items()
        if other != method
    }
    if not pairs:
        return []
    points, intervals = rly.get_interval_estimates(
        pairs,
        lambda x, y: np.array([metrics.probability_of_improvement(x, y)]),
        reps=reps,
        confidence_interval_size=CONFIDENCE,
        random_state=_random_state(seed),
    )
    return [
        Improvement(
            method,
            other,
            float(points[other][0]),
            float(intervals[other][0, 0]),
            float(intervals[other][1, 0]),
        )
        for other in pairs
    ]
