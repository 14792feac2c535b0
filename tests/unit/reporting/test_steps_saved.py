"""The figures every derived run gets: the share of the gain it keeps, steps saved."""

from __future__ import annotations

import pytest

from peft_rlvr_bench.reporting.results import CurvePoint, RoleScore, RunResult, TaskScore
from peft_rlvr_bench.reporting.steps_saved import with_steps_saved


def _result(method: str, accuracy: float, extrapolation: dict | None = None, curve=()) -> RunResult:
    score = RoleScore.from_tasks({"add": TaskScore(accuracy=accuracy, n=500)})
    return RunResult(
        suite="s",
        run_id=method,
        method=method,
        seed=0,
        status="ok",
        spec={},
        metrics={"in_domain": score},
        extrapolation=extrapolation,
        learning_curve=[CurvePoint(update=u, in_domain=a) for u, a in curve],
    )


def test_derived_runs_report_the_share_of_the_gain_they_keep() -> None:
    base = _result("base", 0.50)
    source = _result("full", 0.90, curve=[(0, 0.5), (50, 0.8), (100, 0.9)])
    rank1 = _result("full+rank1", 0.80, {"target": 100, "updates_used": 100})
    info = with_steps_saved(rank1, source, base).extrapolation
    assert info["gain_recovery"] == pytest.approx(0.75)  # (0.80 - 0.50) / (0.90 - 0.50)
    assert info["real_at_target"] == 0.9 and info["updates_to_match"] == 50
    flat = _result("flat", 0.50, curve=[(0, 0.5), (100, 0.5)])
    assert with_steps_saved(rank1, flat, base).extrapolation["gain_recovery"] is None


def test_blocks_only_runs_get_their_gain_recovery_like_rank1() -> None:
    base = _result("base", 0.50)
    source = _result("full", 0.90, curve=[(0, 0.5), (100, 0.9)])
    control = _result("full+blocks_only", 0.86, {"method": "blocks_only", "target": 100, "updates_used": 100})
    assert with_steps_saved(control, source, base).extrapolation["gain_recovery"] == pytest.approx(0.9)
