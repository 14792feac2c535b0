"""A derived run: an extrapolated checkpoint of a trained run, evaluated like any run.

A pure extrapolator predicts from the source's recorded trajectory (``extrapolation/``); a
method that trains between predictions drives real RL segments (``runner/driven.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.distributed import run_device
from peft_rlvr_bench.evaluation.final import final_evaluation
from peft_rlvr_bench.extrapolation.from_trajectory import (
    extrapolated_state,
    load_weights_,
    parameter_snapshot,
)
from peft_rlvr_bench.models import load_base
from peft_rlvr_bench.paths import trajectory_dir
from peft_rlvr_bench.registry import EXTRAPOLATORS
from peft_rlvr_bench.reporting.results import CurvePoint
from peft_rlvr_bench.runner.curves import prediction_curve
from peft_rlvr_bench.runner.driven import drive
from peft_rlvr_bench.suite import DerivedRun
from peft_rlvr_bench.trajectory import Trajectory


def extrapolate_and_evaluate(
    derived: DerivedRun, timings: dict[str, float], on_update: Callable[[int], None] | None
) -> dict[str, Any]:
    """The derived run's result fields; seconds per phase go into ``timings``. The run's context
    shuts its evaluation engine down when the run ends, finished or failed."""
    with RunContext.for_run(derived.source.data, derived.source.generation, timings) as context:
        return _extrapolate_and_evaluate(derived, context, timings, on_update)


def _extrapolate_and_evaluate(
    derived: DerivedRun,
    context: RunContext,
    timings: dict[str, float],
    on_update: Callable[[int], None] | None,
) -> dict[str, Any]:
    clock = time.perf_counter()
    device = run_device()
    source = derived.source
    driven = EXTRAPOLATORS.get(derived.method).drives_training
    if driven:
        state, figures, session = drive(derived, device, context, on_update)
        model, tokenizer = session.evaluation_model, session.tokenizer
    else:
        state, figures, model, tokenizer = predict_from_trajectory(derived, device)
    load_weights_(model, state)
    timings["extrapolate"] = time.perf_counter() - clock
    evaluated = final_evaluation(
        model,
        tokenizer,
        source.eval,
        device,
        context,
        timings,
        reference=lambda: load_base(source.model, device=device)[0],
    )
    curve = []
    if not driven:
        clock = time.perf_counter()
        curve = prediction_curve(derived, model, tokenizer, device, context)
        curve.append(CurvePoint(update=derived.target, in_domain=evaluated["metrics"]["in_domain"].score))
        timings["prediction_curve"] = time.perf_counter() - clock
    extrapolation = {
        "source_run_id": source.run_id,
        "source_method": source.adapter.label,
        "method": derived.method,
        "observe": derived.observe,
        "target": derived.target,
        **figures,
    }
    return {
        **evaluated,
        "extrapolation": extrapolation,
        "learning_curve": curve,
        "backends": context.backends.as_dict(),
    }


def predict_from_trajectory(
    derived: DerivedRun, device: str
) -> tuple[dict[str, Any], dict[str, Any], Any, Any]:
    """A pure extrapolator's prediction from the source's observed records, and the base to hold it."""
    source = derived.source
    model, tokenizer = load_base(source.model, device=device)
    trajectory = Trajectory(trajectory_dir(source.suite, source.run_id))
    state = extrapolated_state(
        trajectory, parameter_snapshot(model), derived.method, derived.params, derived.observe, derived.target
    )
    figures = {"updates_used": max(u for u in trajectory.updates if u <= derived.observe)}
    return state, figures, model, tokenizer
