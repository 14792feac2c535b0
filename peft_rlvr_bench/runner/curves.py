"""Learning curves: in-domain accuracy at recorded updates, for a trained run (rebuilt from its
trajectory against W0) and for a pure extrapolation aimed at the updates between its window and
its target."""

from __future__ import annotations

from typing import Any

from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.evaluation import evaluate
from peft_rlvr_bench.extrapolation.from_trajectory import (
    effective_state_at,
    extrapolated_state,
    load_weights_,
    parameter_snapshot,
)
from peft_rlvr_bench.models import load_base
from peft_rlvr_bench.paths import trajectory_dir
from peft_rlvr_bench.reporting.results import CurvePoint
from peft_rlvr_bench.suite import DerivedRun, EvalSpec, RunSpec
from peft_rlvr_bench.trajectory import Trajectory


def learning_curve(
    run: RunSpec, final_in_domain: float, device: str, context: RunContext
) -> list[CurvePoint]:
    """In-domain accuracy at every ``trajectory.every``-th recorded update and the last, rebuilt from
    the trajectory against W0 (a dense window's extra records feed extrapolation, not the curve:
    each point is a full in-domain evaluation)."""
    trajectory = Trajectory(trajectory_dir(run.suite, run.run_id))
    assert run.trajectory is not None
    every = run.trajectory.every
    model, tokenizer = load_base(run.model, device=device)
    base_state = parameter_snapshot(model)
    curve_eval = curve_eval_spec(run.eval)
    points = []
    for update in trajectory.updates:
        if update % every and update != trajectory.updates[-1]:
            continue
        if update == trajectory.updates[-1] == run.budget.max_steps and run.eval.curve_items is None:
            score = final_in_domain  # the run's own final evaluation: no need to rebuild it
        else:
            try:
                load_weights_(model, effective_state_at(trajectory, base_state, update, base_model=model))
            except NotImplementedError:  # a method whose records cannot be turned into weights yet
                return []
            score = evaluate(model, tokenizer, curve_eval, device=device, context=context)["in_domain"].score
        points.append(CurvePoint(update=update, in_domain=score, n_items=run.eval.curve_items))
    return points


def curve_eval_spec(spec: EvalSpec) -> EvalSpec:
    """What a curve point evaluates: greedy in-domain accuracy on ``curve_items`` items (the first
    of the final evaluation's, so every point of every seed scores the same problems)."""
    update: dict[str, object] = {
        "out_of_domain": [],
        "forgetting": [],
        "sampling": None,
        "keep_samples": False,
    }
    if spec.curve_items is not None:
        update.update(n_items=spec.curve_items, task_items={})
    return spec.model_copy(update=update)


PREDICTION_CURVE_POINTS = 5
"""Intermediate targets a pure extrapolation is also evaluated at, besides its own target."""


def prediction_curve(
    derived: DerivedRun, model: Any, tokenizer: Any, device: str, context: RunContext
) -> list[CurvePoint]:
    """In-domain accuracy of the same prediction aimed at recorded updates between the window and
    the target, so a plot shows how it holds up with distance next to the real run's curve."""

    source = derived.source
    trajectory = Trajectory(trajectory_dir(source.suite, source.run_id))
    between = [u for u in trajectory.updates if derived.observe < u < derived.target]
    stride = max(1, -(-len(between) // PREDICTION_CURVE_POINTS))
    targets = between[::-1][::stride][::-1]  # evenly spaced, ending next to the target
    base_state = parameter_snapshot(load_base(source.model, device=device)[0])
    curve_eval = curve_eval_spec(source.eval)
    points = []
    for target in targets:
        state = extrapolated_state(
            trajectory, base_state, derived.method, derived.params, derived.observe, target
        )
        load_weights_(model, state)
        score = evaluate(model, tokenizer, curve_eval, device=device, context=context)["in_domain"].score
        points.append(CurvePoint(update=target, in_domain=score, n_items=source.eval.curve_items))
    return points
