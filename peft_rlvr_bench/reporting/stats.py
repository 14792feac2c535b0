"""Statistics over seeds: the mean and its percentile bootstrap confidence interval, paired
comparisons between methods (bootstrap CI of the mean difference and an exact sign-flip test) and
the seeds a comparison would need.

Pure functions on plain numbers, so the leaderboard stays a deterministic function of the result files.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


# Paired comparisons between methods -----------------------------------------------------------

ALPHA = 0.05
"""Two-sided significance level of every paired test and power estimate."""
POWER = 0.8
"""Power the seed-count estimate aims for."""
EXACT_SIGN_FLIP_MAX_PAIRS = 16
"""Up to this many pairs the sign-flip test enumerates all 2**n sign patterns (65,536)."""
MIN_PAIRS_FOR_POWER = 3
"""Fewer paired seeds than this give no usable SD, so no seed-count estimate."""


@dataclass(frozen=True)
class PairedComparison:
    """Method A minus method B on the seeds both have: the mean difference, its 95% percentile
    bootstrap CI over seeds, the sample SD of the differences, and a two-sided sign-flip p-value.
    """

    n: int
    """Shared seeds."""
    difference: float
    """Mean of A - B over the shared seeds (nan without any)."""
    ci_low: float
    ci_high: float
    """95% percentile bootstrap CI of the mean difference (nan with fewer than 2 shared seeds)."""
    p_value: float
    """:func:`sign_flip_p_value` of the differences (nan without any)."""
    sd: float
    """Sample SD (ddof 1) of the differences (nan with fewer than 2 shared seeds)."""

    def separated(self, alpha: float = ALPHA) -> bool:
        """True when the CI excludes 0 *and* p < ``alpha``: both tests must agree.

        The percentile bootstrap alone is far too eager at 3 seeds (three positive differences
        always give a CI above 0, which chance does one time in eight); the exact sign-flip test
        cannot go below ``2 / 2**n`` and so needs at least :func:`min_pairs_for_sign_flip` pairs.
        """
        if self.n < 2 or math.isnan(self.ci_low) or math.isnan(self.p_value):
            return False
        return (self.ci_low > 0 or self.ci_high < 0) and self.p_value < alpha


def paired_differences(a: Mapping[int, float], b: Mapping[int, float]) -> list[float]:
    """``a[seed] - b[seed]`` for every seed in both, in seed order."""
    return [a[seed] - b[seed] for seed in sorted(set(a) & set(b))]


def sign_flip_p_value(differences: Sequence[float], seed: int = 0) -> float:
    """Two-sided p-value of the paired sign-flip permutation test of a zero mean difference.

    Under the null hypothesis each difference is as likely to have the other sign, so the
    null distribution of the mean is that of every sign pattern. Exact (all ``2**n`` patterns)
    up to :data:`EXACT_SIGN_FLIP_MAX_PAIRS` pairs, Monte Carlo with 100,000 patterns and a
    fixed seed beyond. Its smallest possible value is ``2 / 2**n``: 0.25 with 3 pairs.
    """
    data = np.asarray(differences, dtype=float)
    if data.size == 0 or np.isnan(data).any():
        return NAN
    if data.size == 1:
        return 1.0  # both signs give a mean as far from 0 as the one observed
    exact = data.size <= EXACT_SIGN_FLIP_MAX_PAIRS
    result = scipy_stats.permutation_test(
        (data,),
        np.mean,
        permutation_type="samples",
        n_resamples=np.inf if exact else 100_000,
        alternative="two-sided",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(result.pvalue)


def paired_comparison(a: Mapping[int, float], b: Mapping[int, float]) -> PairedComparison:
    """Compares method A with method B seed by seed (keys are seeds, values one metric)."""
    differences = paired_differences(a, b)
    n = len(differences)
    low, high = bootstrap_ci(differences)
    sd = float(np.std(differences, ddof=1)) if n >= 2 else NAN
    return PairedComparison(
        n=n,
        difference=mean(differences),
        ci_low=low,
        ci_high=high,
        p_value=sign_flip_p_value(differences) if n else NAN,
        sd=sd,
    )


def min_pairs_for_sign_flip(alpha: float = ALPHA) -> int:
    """The fewest pairs at which the exact two-sided sign-flip test can give p < ``alpha`` (6 at 0.05)."""
    n = 1
    while 2.0 ** (1 - n) >= alpha:
        n += 1
    return n


def seeds_needed(difference: float, sd: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Seeds a paired comparison needs to detect ``difference`` with ``power`` at two-sided ``alpha``.

    The normal approximation ``n = ((z[1 - alpha/2] + z[power]) * sd / difference) ** 2``, from the
    observed mean paired difference and its SD, and never fewer than the exact sign-flip test
    needs to reach ``alpha`` at all (:func:`min_pairs_for_sign_flip`). None when the difference
    is 0 or either number is nan: then no estimate is possible.
    """
    if math.isnan(difference) or math.isnan(sd) or difference == 0:
        return None
    z = scipy_stats.norm.ppf(1 - alpha / 2) + scipy_stats.norm.ppf(power)
    # A tiny epsilon keeps float noise (6.000000001) from adding a whole seed.
    n = math.ceil((z * sd / abs(difference)) ** 2 - 1e-9)
    return max(n, min_pairs_for_sign_flip(alpha))
