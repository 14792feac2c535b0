"""Paired comparisons, Holm and power, against scipy and statsmodels on known inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from peft_rlvr_bench.reporting.stats import (
    TaskItems,
    holm,
    item_limited,
    paired_comparison,
    paired_differences,
    power_at,
    seeds_needed,
)
from tests.helpers.synthetic import anova_variance

# Paired comparisons -------------------------------------------------------------------------


def _seeds(*values: float) -> dict[int, float]:
    return dict(enumerate(values))


def test_paired_comparison_is_the_paired_t() -> None:
    a, b = _seeds(0.55, 0.64, 0.78, 0.60), _seeds(0.5, 0.6, 0.7, 0.58)
    result = paired_comparison(a, b)
    differences = paired_differences(a, b)
    expected = scipy_stats.ttest_1samp(differences, 0.0)
    assert result.p_value == pytest.approx(expected.pvalue)
    low, high = expected.confidence_interval(0.95)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high))
    assert result.kind == "t over seeds" and result.separated() == (expected.pvalue < 0.05)


def test_identical_arms_are_not_separated() -> None:
    result = paired_comparison(_seeds(0.5, 0.6, 0.7), _seeds(0.5, 0.6, 0.7))
    assert (result.n, result.difference, result.ci_low, result.ci_high, result.sd) == (3, 0.0, 0.0, 0.0, 0.0)
    assert result.p_value == 1.0 and not result.separated()


def test_pairs_are_matched_by_seed() -> None:
    a = {0: 0.5, 1: 0.6, 2: 0.7, 3: 0.9}
    b = {1: 0.5, 2: 0.5, 3: 0.5, 7: 0.0}
    assert paired_differences(a, b) == pytest.approx([0.1, 0.2, 0.4])
    assert paired_comparison(a, b).n == 3
    empty = paired_comparison({0: 0.5}, {1: 0.5})
    assert empty.n == 0 and math.isnan(empty.difference) and math.isnan(empty.p_value)
    single = paired_comparison({0: 0.6}, {0: 0.5})
    assert single.n == 1 and math.isnan(single.ci_low) and not single.separated()


def test_paired_items_carry_item_noise_that_seeds_do_not_shrink() -> None:
    rng = np.random.default_rng(2)
    a_items = (rng.random((3, 200)) < 0.8).astype(float)
    b_items = (rng.random((3, 200)) < 0.75).astype(float)
    a = {s: float(a_items[s].mean()) for s in range(3)}
    b = {s: float(b_items[s].mean()) for s in range(3)}
    items_a = {s: {"add": TaskItems("d", tuple(a_items[s]))} for s in range(3)}
    items_b = {s: {"add": TaskItems("d", tuple(b_items[s]))} for s in range(3)}
    with_items = paired_comparison(a, b, items_a, items_b)
    assert with_items.kind == "seeds x items" and with_items.item_variance > 0
    assert with_items.difference == pytest.approx(paired_comparison(a, b).difference)
    assert with_items.se**2 == pytest.approx(anova_variance(a_items - b_items))
    other_items = {s: {"add": TaskItems("other", tuple(b_items[s]))} for s in range(3)}
    assert paired_comparison(a, b, items_a, other_items).kind == "t over seeds", "digests differ: no pairing"


# Holm and power -----------------------------------------------------------------------------


def test_holm_is_statsmodels_and_skips_untestable_pairs() -> None:
    p = [0.01, 0.04, 0.03, 0.2]
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))
    adjusted = holm([0.01, float("nan"), 0.04])
    assert (
        math.isnan(adjusted[1]) and adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)
    )


def test_seeds_needed_is_statsmodels_paired_t_power() -> None:
    # Effect size 1 (difference = SD): statsmodels solves 9.94 pairs at 80% power -> 10.
    solved = TTestPower().solve_power(effect_size=1.0, alpha=0.05, power=0.8)
    assert seeds_needed(0.02, 0.02) == math.ceil(solved) == 10
    assert seeds_needed(-0.02, 0.02) == 10, "only the size of the difference matters"
    assert seeds_needed(0.01, 0.05) > 190
    assert seeds_needed(0.05, 0.0) == 2, "no noise: the fewest seeds a paired t can use"
    assert seeds_needed(0.02, 0.02, alpha=0.01) > 10
    assert seeds_needed(0.0, 0.02) is None
    assert seeds_needed(float("nan"), 0.02) is None and seeds_needed(0.02, float("nan")) is None


def test_item_noise_can_cap_the_power_at_any_seed_count() -> None:
    # Item part of the variance 0.01^2: a 1-point difference never reaches 80% power.
    assert seeds_needed(0.01, 0.01, item_variance=0.01**2) is None
    assert item_limited(0.01, 0.01**2)
    assert not item_limited(0.01, 0.001**2) and seeds_needed(0.01, 0.01, item_variance=0.001**2) is not None


def test_power_is_statsmodels_noncentral_t_and_finite_where_scipy_returns_nan() -> None:
    # C1's figures on the first claims run: a large effect at 2-6 seeds and alpha 0.05 / 15, where
    # scipy's far tail (and so statsmodels' sum of both tails) comes back nan.
    effect, sd, alpha = 0.99 - 0.8755, 0.020728, 0.05 / 15
    ours = [power_at(seeds, effect, sd, 0.0, alpha) for seeds in range(2, 7)]
    theirs = [
        TTestPower().power(effect_size=effect / sd, nobs=seeds, alpha=alpha, alternative="two-sided")
        for seeds in range(2, 7)
    ]
    assert all(0 <= p <= 1 for p in ours) and ours == sorted(ours)
    assert all(math.isnan(t) or t == pytest.approx(o) for t, o in zip(theirs, ours, strict=True))
    finite = [(seeds, 0.8 * sd, sd) for seeds in (3, 5, 10)]  # effects where statsmodels is finite
    for seeds, difference, spread in finite:
        expected = TTestPower().power(
            effect_size=difference / spread, nobs=seeds, alpha=0.05, alternative="two-sided"
        )
        assert power_at(seeds, difference, spread) == pytest.approx(expected, rel=1e-9)
    assert seeds_needed(effect, sd, alpha=alpha) > 3
