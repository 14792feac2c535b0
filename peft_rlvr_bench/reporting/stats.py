"""Summary statistics over seeds: the mean and its percentile bootstrap confidence interval.

Pure functions on plain numbers, so the leaderboard stays a deterministic function of the result files.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats

NAN = float("nan")


def mean(values: Sequence[float]) -> float:
    """Returns the arithmetic mean of ``values``, or nan when there are none."""
    if len(values) == 0:
        return NAN
    return math.fsum(values) / len(values)


def bootstrap_ci(
    values: Sequence[float],
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Returns the percentile bootstrap confidence interval of the mean of ``values``.

    Deterministic for a given ``seed``. With fewer than two values there is no spread to resample,
    so the interval is ``(nan, nan)``; when every value is the same the interval is that value.
    A nan among the values makes the interval ``(nan, nan)``.
    """
    data = np.asarray(values, dtype=float)
    if data.size < 2 or np.isnan(data).any():
        return (NAN, NAN)
    low_bound, high_bound = float(data.min()), float(data.max())
    # scipy warns about degenerate data and may return nan here; the answer is known exactly.
    if low_bound == high_bound:
        return (low_bound, high_bound)
    with warnings.catch_warnings():
        # Tiny seed counts trip scipy's DegenerateDataWarning even when the answer is sound.
        warnings.simplefilter("ignore", category=scipy_stats.DegenerateDataWarning)
        result = scipy_stats.bootstrap(
            (data,),
            np.mean,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    low = float(result.confidence_interval.low)
    high = float(result.confidence_interval.high)
    # A resampled mean cannot leave [min, max]; clipping only removes float rounding at the edges.
    return (min(max(low, low_bound), high_bound), min(max(high, low_bound), high_bound))


def binomial_half_width(accuracy: float, n: int, z: float = 1.96) -> float:
    """Half-width of the normal-approximation 95% interval of an accuracy over ``n`` items."""
    if n <= 0:
        return math.nan
    return z * math.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / n)


def updates_to_match(curve: Sequence[tuple[int, float]], accuracy: float, n_items: int) -> int | None:
    """The first recorded update whose accuracy reaches ``accuracy`` within its sampling error.

    ``curve`` is (update, accuracy) of the real run in update order. "Within its sampling error"
    means at least ``accuracy`` minus the half-width of its 95% binomial interval over
    ``n_items``: an extrapolated checkpoint is matched once the real run is statistically as good.
    None when the real run never gets there.
    """
    threshold = accuracy - binomial_half_width(accuracy, n_items)
    return next((update for update, value in curve if value >= threshold), None)
