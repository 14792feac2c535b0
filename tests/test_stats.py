"""The seed statistics behind every leaderboard cell, on inputs with known answers."""

from __future__ import annotations

import math
import warnings

import pytest

from peft_rlvr_bench.reporting.stats import bootstrap_ci, mean


def test_mean_of_values_and_of_nothing() -> None:
    assert mean([0.5, 0.6, 0.7]) == pytest.approx(0.6)
    assert math.isnan(mean([]))


def test_ci_brackets_the_mean_and_stays_within_the_data() -> None:
    low, high = bootstrap_ci([0.5, 0.6, 0.7])
    assert 0.5 <= low <= 0.6 <= high <= 0.7
    assert low < high


def test_ci_is_deterministic_and_depends_on_the_seed() -> None:
    values = [0.41, 0.47, 0.52, 0.55, 0.61]
    assert bootstrap_ci(values) == bootstrap_ci(values)
    # Few resamples of irregular values, so that a different seed visibly moves the interval.
    irregular = [0.05, 0.1, 0.2, 0.35, 0.55, 0.6, 0.77, 0.9]
    assert bootstrap_ci(irregular, n_resamples=200, seed=1) == bootstrap_ci(
        irregular, n_resamples=200, seed=1
    )
    assert bootstrap_ci(irregular, n_resamples=200, seed=0) != bootstrap_ci(
        irregular, n_resamples=200, seed=1
    )


def test_wider_confidence_gives_a_wider_interval() -> None:
    values = [0.41, 0.47, 0.52, 0.55, 0.61]
    narrow_low, narrow_high = bootstrap_ci(values, confidence=0.5)
    wide_low, wide_high = bootstrap_ci(values, confidence=0.99)
    assert wide_low <= narrow_low and narrow_high <= wide_high


@pytest.mark.parametrize("values", [[], [0.5]])
def test_fewer_than_two_values_give_nan(values: list[float]) -> None:
    low, high = bootstrap_ci(values)
    assert math.isnan(low) and math.isnan(high)


def test_a_nan_value_gives_nan() -> None:
    low, high = bootstrap_ci([0.5, float("nan"), 0.7])
    assert math.isnan(low) and math.isnan(high)


def test_identical_values_give_a_degenerate_interval_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bootstrap_ci([0.3, 0.3, 0.3]) == (0.3, 0.3)


def test_two_values_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        low, high = bootstrap_ci([0.2, 0.4])
    assert 0.2 <= low <= high <= 0.4


def test_updates_to_match_uses_the_binomial_interval() -> None:
    from peft_rlvr_bench.reporting.stats import binomial_half_width, updates_to_match

    curve = [(0, 0.50), (10, 0.70), (20, 0.80), (30, 0.90)]
    assert binomial_half_width(0.8, 400) == pytest.approx(1.96 * 0.02)
    assert updates_to_match(curve, 0.80, 400) == 20
    assert updates_to_match(curve, 0.82, 400) == 20, "0.80 is within 0.82's interval (+-0.0376)"
    assert updates_to_match(curve, 0.85, 400) == 30
    assert updates_to_match(curve, 0.97, 10_000) is None
