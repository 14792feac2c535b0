"""Calibration: synthetic experiments with a known truth through the leaderboards' own statistics.

Seeded and vectorised (a few seconds). Every rate is a Monte Carlo estimate, so "at most 5%" is
checked as at most 5% plus three Monte Carlo standard errors of the sample used.
``python -m peft_rlvr_bench.reporting.stats.calibration`` prints the larger table in
docs/statistics.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from peft_rlvr_bench.reporting.stats import calibration as cal
from peft_rlvr_bench.reporting.stats.calibration import holm_batch

SEEDS = (3, 5, 10)
LOW, HIGH = 0.93, 0.97


def _fwer_bound(experiments: int, rate: float = 0.05) -> float:
    return rate + 3 * math.sqrt(rate * (1 - rate) / experiments)


@pytest.mark.parametrize("seeds", SEEDS)
def test_student_t_covers_the_mean_95_percent_of_the_time(seeds: int) -> None:
    coverage = cal.t_coverage(np.random.default_rng(seeds), 20_000, seeds)
    assert LOW <= coverage <= HIGH, coverage


@pytest.mark.parametrize("seeds", SEEDS)
def test_seeds_x_items_covers_the_population_accuracy(seeds: int) -> None:
    rng = np.random.default_rng(100 + seeds)
    tiny = cal.crossed_coverage(rng, cal.ItemWorld(), 3000, seeds)  # 500 items, seed SD about 1 point
    aime = cal.crossed_coverage(
        rng, cal.ItemWorld(logit=-1.0, item_sd=2.0, seed_sd=0.3, items=30), 8000, seeds
    )
    paired = cal.paired_crossed_coverage(rng, cal.ItemWorld(), 2000, seeds)
    assert LOW <= tiny <= HIGH and LOW <= aime <= HIGH and LOW <= paired <= HIGH, (tiny, aime, paired)


def test_ignoring_item_noise_under_covers_the_population_accuracy() -> None:
    # Why the item level matters: the seed-only t answers "these 500 items", not "the task".
    coverage = cal.seed_t_on_items_coverage(np.random.default_rng(7), cal.ItemWorld(), 2000, 10)
    assert coverage < 0.85, coverage


def test_a_percentile_bootstrap_over_3_seeds_under_covers() -> None:
    # The interval the leaderboards used to show: about [min, max] of 3 values.
    assert cal.percentile_bootstrap_coverage(np.random.default_rng(8), 4000, 3) < 0.80


def test_rliables_stratified_bootstrap_under_covers_at_3_runs() -> None:
    # The measured reason the pages show rliable's aggregates only from 10 seeds.
    assert cal.rliable_coverage(np.random.default_rng(9), 150, 3, reps=200) < 0.90


@pytest.mark.parametrize("methods", [3, 5, 8])
@pytest.mark.parametrize("seeds", SEEDS)
def test_identical_methods_are_rarely_starred_or_separated(methods: int, seeds: int) -> None:
    experiments = 20_000
    rates = cal.null_rates_seeds(np.random.default_rng(methods * 100 + seeds), experiments, methods, seeds)
    assert rates.star <= _fwer_bound(experiments) and rates.any_separated <= _fwer_bound(experiments), rates


def test_a_family_of_only_top_against_others_would_not_control_the_error() -> None:
    # The top method is chosen by looking at every method, so Holm must run over every pair.
    rates = cal.null_rates_seeds(np.random.default_rng(42), 20_000, 8, 5)
    assert rates.any_separated_top_family > 0.07 > _fwer_bound(20_000) > rates.any_separated


@pytest.mark.parametrize("seeds", SEEDS)
def test_identical_methods_with_item_scores_are_rarely_separated(seeds: int) -> None:
    experiments = 1500
    rates = cal.null_rates_items(np.random.default_rng(200 + seeds), cal.ItemWorld(), experiments, 3, seeds)
    assert rates.star <= _fwer_bound(experiments) and rates.any_separated <= _fwer_bound(experiments), rates


@pytest.mark.parametrize("seeds", SEEDS)
def test_the_detectable_difference_is_detected_80_percent_of_the_time(seeds: int) -> None:
    power = cal.seed_power(np.random.default_rng(300 + seeds), 20_000, seeds)
    assert 0.77 <= power <= 0.83, power


def test_the_vectorised_holm_of_the_calibration_matches_statsmodels() -> None:
    rng = np.random.default_rng(3)
    p = rng.random((50, 6)) ** 3
    expected = np.array([multipletests(row, method="holm")[1] for row in p])
    assert holm_batch(p) == pytest.approx(expected)
