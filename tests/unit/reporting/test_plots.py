"""The leaderboard's plots."""

from __future__ import annotations


def test_the_pareto_frontier_keeps_only_points_no_cheaper_point_beats() -> None:
    from peft_rlvr_bench.reporting.plots import _frontier

    points = [(10.0, 0.80), (1.0, 0.70), (5.0, 0.65), (100.0, 0.79), (50.0, 0.90)]
    assert _frontier(points) == [(1.0, 0.70), (10.0, 0.80), (50.0, 0.90)]
