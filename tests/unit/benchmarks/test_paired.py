"""The benchmarks' paired ratio and its interval (benchmarks/paired.py), and the harness-overhead
verdict report.py writes from it."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from scipy import stats

from tests.helpers.paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from paired import ratio_interval, rotation
from report import harness_verdict


def test_the_ratio_is_the_geometric_mean_of_pair_ratios_and_its_t_interval_is_scipys() -> None:
    rng = np.random.default_rng(3)
    bare = rng.uniform(1.0, 2.0, 16)  # drift between pairs: cancels in each pair's ratio
    harness = bare * np.exp(rng.normal(math.log(1.01), 0.02, 16))
    found = ratio_interval(list(harness), list(bare))
    logs = np.log(harness / bare)
    assert found["ratio"] == pytest.approx(math.exp(logs.mean()), rel=1e-12)
    low, high = stats.ttest_1samp(logs, 0.0).confidence_interval(0.95)
    assert (found["t_low"], found["t_high"]) == pytest.approx((math.exp(low), math.exp(high)), rel=1e-12)
    assert found["bca_low"] < found["ratio"] < found["bca_high"]
    assert found["pairs"] == 16 and found["pair_ratios"] == pytest.approx(list(harness / bare))
    swapped = ratio_interval(list(bare), list(harness))
    assert swapped["ratio"] == pytest.approx(1 / found["ratio"], rel=1e-12)
    assert swapped["t_high"] == pytest.approx(1 / found["t_low"], rel=1e-12)


def test_identical_pair_ratios_give_a_point_interval_and_few_pairs_give_none() -> None:
    same = ratio_interval([1.02, 2.04, 3.06], [1.0, 2.0, 3.0])
    assert same["ratio"] == pytest.approx(1.02)
    assert same["t_low"] == pytest.approx(1.02) and same["t_high"] == pytest.approx(1.02)
    assert same["bca_low"] is None  # no spread to resample
    two = ratio_interval([1.1, 1.0], [1.0, 1.0])
    assert two["t_low"] is None and two["bca_high"] is None
    with pytest.raises(ValueError, match="2 numerators for 1 denominators"):
        ratio_interval([1.0, 1.0], [1.0])


def test_each_case_goes_first_equally_often() -> None:
    cases = ("a", "b", "c")
    orders = [rotation(cases, index) for index in range(6)]
    assert all(sorted(order) == list(cases) for order in orders)
    assert [order[0] for order in orders] == ["a", "b", "c", "a", "b", "c"]


def _bench(ratio: float, low: float | None, high: float | None) -> dict:
    info = {"adapter": "full", "rounds": 16, "updates": 30}
    for key, shift in (("harness_over_plain", 0.0), ("harness_over_bare", -0.01)):
        info |= {
            key: ratio + shift,
            f"{key}_t_low": None if low is None else low + shift,
            f"{key}_t_high": None if high is None else high + shift,
            f"{key}_bca_low": None,
            f"{key}_bca_high": None,
        }
    return {"fullname": "benchmarks/test_harness_overhead.py::test[full]", "extra_info": info}


def test_the_verdict_needs_the_ratio_to_a_plain_reward_at_the_goal_and_its_interval_clear_of_1_05() -> None:
    line = harness_verdict([_bench(1.02, 1.0, 1.04)])
    assert "harness / bare TRL (plain reward) 1.020 (95% t 1.000 to 1.040" in line
    assert "harness / bare TRL (guarded reward) 1.010 (95% t 0.990 to 1.030" in line
    assert line.endswith(
        "16 interleaved pairs of 30 timed updates: goal <= 1.03 **met**; the interval excludes 1.05."
    )
    assert "**missed**; the interval does not exclude 1.05" in harness_verdict([_bench(1.02, 0.99, 1.06)])
    assert "**missed**; the interval excludes 1.05" in harness_verdict([_bench(1.035, 1.03, 1.04)])
    assert "too few pairs to judge" in harness_verdict([_bench(1.0, None, None)])
