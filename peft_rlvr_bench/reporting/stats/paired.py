"""Paired comparisons of two arms, Holm's correction over a family of them, and the seeds a
comparison would need (power of the paired t).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from peft_rlvr_bench.reporting.stats.intervals import (
    NAN,
    IntervalKind,
    crossed_interval,
    interval_around,
    mean,
    t_interval,
)
from peft_rlvr_bench.reporting.stats.items import RunItems, paired_item_tables

ALPHA = 0.05
"""Two-sided significance level of every test (and of the family, after Holm)."""
POWER = 0.8
"""Power the seed-count estimate aims for."""
MIN_DETECTABLE_EFFECT = 0.01
"""When the observed difference is smaller than this (1 accuracy point), seeds needed are
computed for a difference of this size instead: "needs 40,000 seeds" for a 0.05-point gap says
nothing a reader can use."""
MAX_SEEDS = 10_000
"""Seed counts beyond this are reported as out of reach."""


@dataclass(frozen=True)
class PairedComparison:
    """Arm A minus arm B on the seeds both have: the mean difference, its 95% interval and p.

    ``kind`` says which interval: ``"t over seeds"`` (paired Student t of the per-seed
    differences) or ``"seeds x items"`` (both arms stored per-item scores on the same items:
    crossed variance components of the item-by-item differences, Satterthwaite df).
    """

    n: int
    """Shared seeds."""
    difference: float
    """Mean of A - B over the shared seeds (nan without any)."""
    ci_low: float
    ci_high: float
    """95% interval of the mean difference (nan with fewer than 2 shared seeds)."""
    p_value: float
    """Two-sided p of a zero mean difference, same t reference as the interval (unadjusted)."""
    sd: float
    """Sample SD (ddof 1) of the per-seed differences (nan below 2 shared seeds)."""
    item_variance: float = 0.0
    """The part of the difference's variance that comes from which items were drawn; it does not
    shrink with more seeds (0 for ``t over seeds``)."""
    kind: IntervalKind = "t over seeds"
    se: float = NAN
    df: float = NAN

    def separated(self, alpha: float = ALPHA) -> bool:
        """True when this one test rejects a zero difference at ``alpha`` (p < alpha; the interval
        then excludes 0). A page testing several pairs uses Holm-adjusted p instead (:func:`holm`)."""
        return self.n >= 2 and not math.isnan(self.p_value) and self.p_value < alpha

    def seeds_needed(
        self, alpha: float = ALPHA, power: float = POWER, mde: float = MIN_DETECTABLE_EFFECT
    ) -> int | None:
        """:func:`seeds_needed` for this comparison's difference (or ``mde`` when it is smaller)."""
        return seeds_needed(self.planning_difference(mde), self.sd, self.item_variance, alpha, power)

    def planning_difference(self, mde: float = MIN_DETECTABLE_EFFECT) -> float:
        """The difference a seed count is planned for: the observed one, or ``mde`` when it is smaller."""
        return abs(self.difference) if abs(self.difference) >= mde else mde


def paired_differences(a: Mapping[int, float], b: Mapping[int, float]) -> list[float]:
    """``a[seed] - b[seed]`` for every seed in both, in seed order."""
    return [a[seed] - b[seed] for seed in sorted(set(a) & set(b))]


def paired_comparison(
    a: Mapping[int, float],
    b: Mapping[int, float],
    items_a: Mapping[int, RunItems | None] | None = None,
    items_b: Mapping[int, RunItems | None] | None = None,
) -> PairedComparison:
    """Compares arm A with arm B seed by seed (keys are seeds, values one metric).

    With ``items_a``/``items_b`` (per-item scores by seed) lining up on every shared seed, the
    interval and p carry item noise too (``kind == "seeds x items"``); otherwise they are the
    paired Student t over the per-seed differences.
    """
    seeds = sorted(set(a) & set(b))
    differences = [a[seed] - b[seed] for seed in seeds]
    n = len(differences)
    sd = float(np.std(differences, ddof=1)) if n >= 2 else NAN
    tables = None
    if n >= 2 and items_a is not None and items_b is not None:
        tables = paired_item_tables([items_a.get(s) for s in seeds], [items_b.get(s) for s in seeds])
    if tables is not None:
        crossed = crossed_interval([tables[task] for task in sorted(tables)])
        # Centred on the per-seed scores the table shows (the item tables average to them when the
        # results are consistent); the seed part of the variance shrinks with seeds, the rest not.
        interval = interval_around(mean(differences), crossed.se, crossed.df, crossed.kind, n)
        item_variance = max(crossed.se**2 - sd**2 / n, 0.0) if np.isfinite(crossed.se) else 0.0
    else:
        interval = t_interval(differences)
        item_variance = 0.0
    return PairedComparison(
        n=n,
        difference=mean(differences),
        ci_low=interval.low,
        ci_high=interval.high,
        p_value=interval.p_value() if n >= 2 else NAN,
        sd=sd,
        item_variance=item_variance,
        kind=interval.kind,
        se=interval.se,
        df=interval.df,
    )


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> list[float]:
    """Holm-adjusted p-values (statsmodels ``multipletests(method="holm")``), in input order.

    A nan p (a pair with too few seeds) stays nan and does not count in the family.
    """
    values = np.asarray(p_values, dtype=float)
    adjusted = np.full(values.shape, np.nan)
    finite = ~np.isnan(values)
    if finite.any():
        adjusted[finite] = multipletests(values[finite], alpha=alpha, method="holm")[1]
    return [float(p) for p in adjusted]


def power_at(
    seeds: int,
    difference: float,
    sd: float,
    item_variance: float = 0.0,
    alpha: float = ALPHA,
    sides: int = 2,
) -> float:
    """Power of the paired t at ``alpha`` (``sides`` 2 or 1) with ``seeds`` pairs, for a true ``difference``.

    The variance of the mean difference at ``seeds`` is ``sd**2 / seeds + item_variance``; the
    item part does not shrink with seeds. The statistic is noncentral t with ``seeds - 1`` df and
    noncentrality ``|difference| / sqrt(variance)`` (scipy's ``nct``; the same model as
    statsmodels' ``TTestPower``, which a test checks). At 2-3 seeds and a large effect scipy
    returns nan for the negligible far tail: it is taken as 0, not passed on as a nan power.
    """
    variance = sd**2 / seeds + item_variance
    if variance == 0:
        return 1.0
    df, noncentrality = seeds - 1, abs(difference) / math.sqrt(variance)
    critical = float(scipy_stats.t.ppf(1 - alpha / sides, df))
    upper = float(scipy_stats.nct.sf(critical, df, noncentrality))
    lower = float(scipy_stats.nct.cdf(-critical, df, noncentrality)) if sides == 2 else 0.0
    return (0.0 if math.isnan(upper) else upper) + (0.0 if math.isnan(lower) else lower)


def smallest_seeds(power_with: Callable[[int], float], target: float = POWER) -> int | None:
    """The fewest seeds (at least 2) at which ``power_with(seeds)``, rising with seeds, reaches
    ``target``; None when :data:`MAX_SEEDS` do not."""
    if not power_with(MAX_SEEDS) >= target:
        return None
    low, high = 1, 2
    while not power_with(high) >= target:
        low, high = high, min(2 * high, MAX_SEEDS)
    while high - low > 1:  # power rises with seeds: bisect for the first that reaches it
        middle = (low + high) // 2
        low, high = (low, middle) if power_with(middle) >= target else (middle, high)
    return high


def seeds_needed(
    difference: float, sd: float, item_variance: float = 0.0, alpha: float = ALPHA, power: float = POWER
) -> int | None:
    """The fewest paired seeds (at least 2) giving ``power`` to detect ``difference`` at two-sided ``alpha``.

    None when it cannot be estimated (a zero or nan difference, a nan SD) or when no number up to
    :data:`MAX_SEEDS` reaches it, which with per-item scores means the item noise alone is too
    large: more eval items, not more seeds, would separate the arms (:func:`item_limited`).
    """
    if math.isnan(difference) or math.isnan(sd) or math.isnan(item_variance) or difference == 0:
        return None
    return smallest_seeds(lambda seeds: power_at(seeds, difference, sd, item_variance, alpha), power)


def item_limited(difference: float, item_variance: float, alpha: float = ALPHA, power: float = POWER) -> bool:
    """True when item noise alone keeps ``difference`` below ``power`` at any number of seeds."""
    if item_variance <= 0 or math.isnan(difference):
        return False
    return power_at(MAX_SEEDS, difference, 0.0, item_variance, alpha) < power
