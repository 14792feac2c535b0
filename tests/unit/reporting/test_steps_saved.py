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


def test_a_curve_on_fewer_items_is_matched_on_those_items() -> None:
    """The curve scores the first 400 items, which are easier than the rest: the prediction's own
    accuracy on those 400 (0.9, not its 0.75 overall) is what the real run has to reach."""
    items = [1.0] * 360 + [0.0] * 40 + [0.0] * 150 + [1.0] * 50  # 0.9 on the head, 0.75 overall
    score = RoleScore.from_tasks({"add": TaskScore(accuracy=0.75, n=600, items=items)})
    derived = _result("full+relex", 0.75, {"target": 100, "updates_used": 20}).model_copy(
        update={"metrics": {"in_domain": score}}
    )
    source = _result("full", 0.95, curve=[(0, 0.5), (50, 0.8), (100, 0.95)])
    source = source.model_copy(
        update={"learning_curve": [p.model_copy(update={"n_items": 400}) for p in source.learning_curve]}
    )
    info = with_steps_saved(derived, source).extrapolation
    # 0.9 less its 95% half-width over 400 items (0.029): the real run gets there at update 100.
    assert info["updates_to_match"] == 100 and info["steps_saved"] == 80
    assert info["gap_at_target"] == pytest.approx(0.9 - 0.95)
    # Without per-item scores the whole score stands: 0.75 - 0.035 is reached at update 50.
    plain = _result("full+relex", 0.75, {"target": 100, "updates_used": 20})
    assert with_steps_saved(plain, source).extrapolation["updates_to_match"] == 50
