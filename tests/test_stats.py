"""The statistics behind every leaderboard cell and comparison, on inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from peft_rlvr_bench.reporting.stats import (
    TaskItems,
    binomial_half_width,
    crossed_interval,
    holm,
    item_limited,
    item_tables,
    items_interval,
    mean,
    paired_comparison,
    paired_differences,
    power_at,
    prediction_interval,
    seeds_needed,
    t_interval,
    updates_to_match,
)
from peft_rlvr_bench.reporting.stats.calibration import holm_batch

T2 = 4.302653  # t[0.975, 2 df]


def test_mean_of_values_and_of_nothing() -> None:
    assert mean([0.5, 0.6, 0.7]) == pytest.approx(0.6)
    assert math.isnan(mean([]))


def test_t_interval_is_scipys_student_t() -> None:
    values = [0.41, 0.47, 0.52, 0.55, 0.61]
    interval = t_interval(values)
    low, high = scipy_stats.ttest_1samp(values, 0.0).confidence_interval(0.95)
    assert (interval.low, interval.high) == pytest.approx((low, high))
    assert interval.kind == "t over seeds" and interval.df == 4 and interval.n == 5
    # Three seeds: far wider than their [min, max], which a percentile bootstrap would about give.
    three = t_interval([0.5, 0.6, 0.7])
    assert three.low == pytest.approx(0.6 - T2 * 0.1 / math.sqrt(3)) and three.low < 0.5


@pytest.mark.parametrize("values", [[], [0.5], [0.5, float("nan"), 0.7]])
def test_no_interval_below_two_values_or_with_a_nan(values: list[float]) -> None:
    interval = t_interval(values)
    assert math.isnan(interval.low) and math.isnan(interval.high)
    assert all(math.isnan(bound) for bound in prediction_interval(values))


def test_identical_values_give_a_zero_width_interval() -> None:
    interval = t_interval([0.3, 0.3, 0.3])
    assert (interval.low, interval.high) == (0.3, 0.3)


def test_prediction_interval_of_a_new_seed() -> None:
    low, high = prediction_interval([0.5, 0.6, 0.7])
    half = T2 * 0.1 * math.sqrt(1 + 1 / 3)
    assert (low, high) == pytest.approx((0.6 - half, 0.6 + half))
    ci = t_interval([0.5, 0.6, 0.7])
    assert high - low == pytest.approx(2 * (ci.high - ci.low)), "sqrt(1 + 1/3) / sqrt(1/3) = 2"


def test_updates_to_match_uses_the_binomial_interval() -> None:
    curve = [(0, 0.50), (10, 0.70), (20, 0.80), (30, 0.90)]
    assert binomial_half_width(0.8, 400) == pytest.approx(1.96 * 0.02)
    assert updates_to_match(curve, 0.80, 400) == 20
    assert updates_to_match(curve, 0.82, 400) == 20, "0.80 is within 0.82's interval (+-0.0376)"
    assert updates_to_match(curve, 0.85, 400) == 30
    assert updates_to_match(curve, 0.97, 10_000) is None


# Seeds x items ------------------------------------------------------------------------------


def _anova_variance(y: np.ndarray) -> float:
    """(MS_seed + MS_item - MS_resid) / (S * I) straight from the two-way ANOVA sums of squares."""
    s, i = y.shape
    grand = y.mean()
    ms_seed = i * ((y.mean(axis=1) - grand) ** 2).sum() / (s - 1)
    ms_item = s * ((y.mean(axis=0) - grand) ** 2).sum() / (i - 1)
    resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + grand
    ms_resid = (resid**2).sum() / ((s - 1) * (i - 1))
    return (ms_seed + ms_item - ms_resid) / (s * i)


def test_crossed_interval_is_the_two_way_random_effects_variance() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((4, 60)) < rng.random(60)).astype(float)
    interval = crossed_interval([y])
    assert interval.kind == "seeds x items" and interval.n == 4
    assert interval.estimate == pytest.approx(y.mean())
    assert interval.se**2 == pytest.approx(_anova_variance(y))
    assert interval.df > 3, "item noise adds degrees of freedom to the seeds' 3"
    # Item noise adds to the standard error of the seed-only t over the same seeds.
    assert interval.se > t_interval(list(y.mean(axis=1))).se


def test_crossed_interval_over_tasks_weights_them_equally() -> None:
    rng = np.random.default_rng(1)
    big, small = (rng.random((3, 500)) < 0.9).astype(float), (rng.random((3, 30)) < 0.3).astype(float)
    interval = crossed_interval([big, small])
    assert interval.estimate == pytest.approx((big.mean() + small.mean()) / 2), "unweighted mean of tasks"
    # The 30-item task dominates the item noise: its items weigh 500/30 times as much each.
    alone = crossed_interval([small])
    assert interval.se == pytest.approx(alone.se / 2, rel=0.35)


def test_one_fixed_model_has_item_noise_only() -> None:
    scores = np.array([1.0] * 90 + [0.0] * 10)
    interval = items_interval([scores])
    assert interval.kind == "items" and interval.estimate == pytest.approx(0.9)
    assert interval.se == pytest.approx(math.sqrt(0.9 * 0.1 * 100 / 99 / 100))


def test_item_tables_pair_only_matching_digests_and_lengths() -> None:
    run = {"add": TaskItems("d1", (1.0, 0.0, 1.0))}
    assert item_tables([run, run])["add"].shape == (2, 3)
    assert item_tables([run, {"add": TaskItems("d2", (1.0, 0.0, 1.0))}]) is None
    assert item_tables([run, {"add": TaskItems("d1", (1.0, 0.0))}]) is None
    assert item_tables([run, None]) is None
    assert item_tables([run, {"add": run["add"], "max": run["add"]}]) is None


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
    assert with_items.se**2 == pytest.approx(_anova_variance(a_items - b_items))
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


def test_the_vectorised_holm_of_the_calibration_matches_statsmodels() -> None:
    rng = np.random.default_rng(3)
    p = rng.random((50, 6)) ** 3
    expected = np.array([multipletests(row, method="holm")[1] for row in p])
    assert holm_batch(p) == pytest.approx(expected)


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
