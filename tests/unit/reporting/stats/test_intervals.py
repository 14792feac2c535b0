"""The intervals behind every leaderboard cell, on inputs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from peft_rlvr_bench.reporting.stats import (
    binomial_half_width,
    crossed_interval,
    items_interval,
    mean,
    prediction_interval,
    t_interval,
    updates_to_match,
)
from tests.helpers.synthetic import anova_variance

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


def test_crossed_interval_is_the_two_way_random_effects_variance() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((4, 60)) < rng.random(60)).astype(float)
    interval = crossed_interval([y])
    assert interval.kind == "seeds x items" and interval.n == 4
    assert interval.estimate == pytest.approx(y.mean())
    assert interval.se**2 == pytest.approx(anova_variance(y))
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
