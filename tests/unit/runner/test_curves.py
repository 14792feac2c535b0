"""Learning curves: what a point evaluates (greedy in-domain only, on the first ``curve_items``),
and the ``trajectory.every`` grid kept when a dense window records more."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from peft_rlvr_bench.runner import curves
from peft_rlvr_bench.runner.curves import curve_eval_spec
from peft_rlvr_bench.suite import EvalSpec, SamplingSpec, load_suite
from tests.helpers.suites import write_scale_suite


def test_a_curve_point_is_greedy_in_domain_on_the_first_curve_items() -> None:
    spec = EvalSpec(
        in_domain=["add"],
        out_of_domain=["add_words"],
        forgetting=["copy"],
        n_items=1000,
        task_items={"add": 800},
        curve_items=300,
        sampling=SamplingSpec(k=8),
    )
    curve = curve_eval_spec(spec)
    assert curve.roles() == {"in_domain": ["add"], "out_of_domain": [], "forgetting": []}
    assert curve.items_for("add") == 300 and curve.sampling is None and not curve.keep_samples


def test_without_curve_items_a_point_uses_the_final_evaluations_items() -> None:
    curve = curve_eval_spec(EvalSpec(in_domain=["add"], n_items=500, task_items={"add": 400}))
    assert curve.items_for("add") == 400


def test_dense_records_feed_extrapolation_not_the_learning_curve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = load_suite(write_scale_suite(tmp_path, budget={"max_steps": 7}, trajectory={"every": 3})).runs[0]
    run = run.model_copy(update={"trajectory": run.trajectory.model_copy(update={"dense_until": 4})})
    evaluated: list[int] = []
    state = {"update": -1}
    monkeypatch.setattr(curves, "Trajectory", lambda _: types.SimpleNamespace(updates=[0, 1, 2, 3, 4, 6, 7]))
    monkeypatch.setattr(curves, "load_base", lambda *a, **k: (object(), object()))
    monkeypatch.setattr(curves, "parameter_snapshot", lambda model: {})
    monkeypatch.setattr(curves, "effective_state_at", lambda t, b, update, base_model: update)
    monkeypatch.setattr(curves, "load_weights_", lambda model, update: state.update(update=update))

    def evaluate(*_: object, **__: object) -> dict[str, object]:
        evaluated.append(state["update"])
        return {"in_domain": types.SimpleNamespace(score=0.5)}

    monkeypatch.setattr(curves, "evaluate", evaluate)
    points = curves.learning_curve(run, 0.9, "cpu", None)  # type: ignore[arg-type]
    assert [p.update for p in points] == [0, 3, 6, 7] and evaluated == [0, 3, 6]
    assert points[-1].in_domain == 0.9, "the last update is the run's own final evaluation"
