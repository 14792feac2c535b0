"""The seed statistics behind every leaderboard cell, on inputs with known answers."""

from __future__ import annotations

import math
import warnings

import pytest

from peft_rlvr_bench.reporting.stats import (
    bootstrap_ci,
    mean,
    min_pairs_for_sign_flip,
    paired_comparison,
    paired_differences,
    seeds_needed,
    sign_flip_p_value,
)


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


# Paired comparisons -------------------------------------------------------------------------


def _seeds(*values: float) -> dict[int, float]:
    return dict(enumerate(values))


def test_identical_methods_differ_by_zero_and_are_not_separated() -> None:
    result = paired_comparison(_seeds(0.5, 0.6, 0.7), _seeds(0.5, 0.6, 0.7))
    assert (result.n, result.difference, result.ci_low, result.ci_high, result.sd) == (3, 0.0, 0.0, 0.0, 0.0)
    assert result.p_value == 1.0 and not result.separated()


def test_a_constant_lead_on_three_seeds_has_a_ci_above_zero_but_p_025() -> None:
    result = paired_comparison(_seeds(0.55, 0.65, 0.75), _seeds(0.5, 0.6, 0.7))
    assert result.difference == pytest.approx(0.05)
    assert result.ci_low == pytest.approx(0.05) and result.ci_high == pytest.approx(0.05)
    # Exact: of the 8 sign patterns, +++ and --- are as extreme as the data.
    assert result.p_value == 0.25
    assert not result.separated(), "the CI alone would call it; the exact test cannot at 3 seeds"


def test_a_constant_lead_on_six_seeds_is_separated() -> None:
    result = paired_comparison(_seeds(*[0.55] * 6), _seeds(*[0.5] * 6))
    assert result.p_value == pytest.approx(2 / 64) and result.separated()
    assert not result.separated(alpha=0.01)
    flipped = paired_comparison(_seeds(*[0.5] * 6), _seeds(*[0.55] * 6))
    assert flipped.difference == pytest.approx(-0.05) and flipped.separated(), "either sign"


@pytest.mark.parametrize(
    ("differences", "p"),
    [
        ([1.0, 2.0, 3.0], 2 / 8),  # sums of +-1 +-2 +-3: only +6 and -6 reach |6|
        ([1.0, -2.0, 3.0], 6 / 8),  # |sum| >= 2 for 6 of the 8 patterns
        ([0.0, 0.0], 1.0),
        ([0.3], 1.0),
        ([1.0, 1.0, 1.0, 1.0, 1.0], 2 / 32),
    ],
)
def test_sign_flip_p_values_are_exact(differences: list[float], p: float) -> None:
    assert sign_flip_p_value(differences) == pytest.approx(p)


def test_sign_flip_beyond_the_exact_limit_is_deterministic_monte_carlo() -> None:
    differences = [0.01 * (i % 5 - 1) for i in range(24)]
    assert sign_flip_p_value(differences) == sign_flip_p_value(differences)
    assert 0 < sign_flip_p_value([0.01] * 24) < 1e-4
    assert math.isnan(sign_flip_p_value([])) and math.isnan(sign_flip_p_value([0.1, float("nan")]))


def test_pairs_are_matched_by_seed() -> None:
    a = {0: 0.5, 1: 0.6, 2: 0.7, 3: 0.9}
    b = {1: 0.5, 2: 0.5, 3: 0.5, 7: 0.0}
    assert paired_differences(a, b) == pytest.approx([0.1, 0.2, 0.4])
    result = paired_comparison(a, b)
    assert result.n == 3 and result.difference == pytest.approx(0.7 / 3)
    empty = paired_comparison({0: 0.5}, {1: 0.5})
    assert (
        empty.n == 0 and math.isnan(empty.difference) and math.isnan(empty.p_value) and not empty.separated()
    )
    single = paired_comparison({0: 0.6}, {0: 0.5})
    assert single.n == 1 and math.isnan(single.ci_low) and math.isnan(single.sd) and not single.separated()


def test_the_exact_test_needs_six_pairs_at_alpha_005() -> None:
    assert min_pairs_for_sign_flip() == 6  # 2 / 2**5 = 0.0625, 2 / 2**6 = 0.031
    assert min_pairs_for_sign_flip(0.01) == 8  # 2 / 2**7 = 0.0156, 2 / 2**8 = 0.0078


def test_seeds_needed_is_the_normal_approximation() -> None:
    # (z_0.975 + z_0.8)^2 = (1.95996 + 0.84162)^2 = 7.8489
    assert seeds_needed(0.02, 0.02) == 8
    assert seeds_needed(-0.02, 0.02) == 8, "only the size of the difference matters"
    assert seeds_needed(0.01, 0.05) == 197  # 7.8489 * 25 = 196.2
    assert seeds_needed(0.05, 0.0) == 6, "never below what the exact test needs"
    assert seeds_needed(0.05, 0.01, alpha=0.01) == 8
    assert seeds_needed(0.0, 0.02) is None
    assert seeds_needed(float("nan"), 0.02) is None and seeds_needed(0.02, float("nan")) is None
