"""Executes one RunSpec (or the base evaluation) and returns its self-describing RunResult.

Orchestration only: load the base, train it (``rlvr/train.py``, the training path), save,
merge and evaluate (``evaluation/``), measure its geometry and learning curve, and turn any
failure into a result. Derived runs are ``runner/derived.py``'s.
"""

from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from peft_rlvr_bench.crashpoints import crash_point
from peft_rlvr_bench.disk import disk_full_reason, is_disk_full
from peft_rlvr_bench.distributed import is_main_process, run_device
from peft_rlvr_bench.paths import final_dir, outputs_dir, run_dir, trajectory_dir
from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.runner.provenance import gpu_memory, peak_memory_mb, provenance, reset_gpu_peak
from peft_rlvr_bench.suite import DerivedRun, ModelSpec, RunSpec, SuiteSpec

if TYPE_CHECKING:
    from peft_rlvr_bench.context import RunContext


def evaluate_base(suite: SuiteSpec) -> RunResult:
    """The untouched base model, scored once per suite (greedy decoding is deterministic, and
    sampling is seeded). Its KL to itself is zero by definition, so it has none. A failure is a
    ``failed`` result with its traceback kept, as for a run."""
    reset_gpu_peak()
    try:
        return _evaluate_base(suite)
    except Exception as exc:  # a gated dataset or an OOM must not cost the suite
        return failed_base(suite, _failure_reason(exc, {"suite": suite.name, "run_id": "base"}))


def base_result(suite: SuiteSpec, status: str, **fields: Any) -> RunResult:
    """The base evaluation's result: its identity, memory and provenance around ``fields``."""
    return RunResult(
        suite=suite.name,
        run_id="base",
        method="base",
        seed=None,
        status=status,
        spec=suite.base_identity(),
        peak_memory_mb=peak_memory_mb(),
        gpu_memory=gpu_memory(),
        **fields,
        **provenance(suite.model),
    )


def failed_base(suite: SuiteSpec, reason: str) -> RunResult:
    """A ``failed`` base result: the next ``prb run`` evaluates the base again."""
    return base_result(suite, "failed", reason=reason)


def _evaluate_base(suite: SuiteSpec) -> RunResult:
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.evaluation.final import final_evaluation
    from peft_rlvr_bench.models import load_base

    started = time.perf_counter()
    device = run_device()
    model, tokenizer = load_base(suite.model, device=device)
    timings = {"load": time.perf_counter() - started}
    with RunContext.for_run(suite.data, suite.generation, timings) as context:
        evaluated = final_evaluation(model, tokenizer, suite.eval, device, context, timings)
    return base_result(
        suite,
        "ok",
        **evaluated,
        total_params=sum(p.numel() for p in model.parameters()),
        timings=timings,
        backends=context.backends.as_dict(),
    )


def execute_run(run: RunSpec, on_update: Callable[[int], None] | None = None) -> RunResult:
    """Trains, merges and evaluates one run. Failures become a ``failed`` result, not a crash."""
    common = {"suite": run.suite, "run_id": run.run_id, "method": run.adapter.label, "seed": run.seed}
    spec = run.model_dump(mode="json")
    return _contained(common, spec, run.model, lambda timings: train_and_evaluate(run, timings, on_update))


def execute_derived(derived: DerivedRun, on_update: Callable[[int], None] | None = None) -> RunResult:
    """Predicts a checkpoint from the source run's trajectory (training more RL segments when the
    method drives training) and evaluates it like any run."""
    from peft_rlvr_bench.runner.derived import extrapolate_and_evaluate

    source = derived.source
    common = {
        "suite": source.suite,
        "run_id": derived.run_id,
        "method": derived.display_name,
        "seed": source.seed,
    }
    return _contained(
        common,
        derived.model_dump(mode="json"),
        source.model,
        lambda timings: extrapolate_and_evaluate(derived, timings, on_update),
    )


def failed_result(run: RunSpec | DerivedRun, reason: str) -> RunResult:
    """A ``failed`` result for a run whose process never returned one (a crashed launch or Ray task)."""
    source = run.source if isinstance(run, DerivedRun) else run
    method = run.display_name if isinstance(run, DerivedRun) else run.adapter.label
    return RunResult(
        suite=source.suite,
        run_id=run.run_id,
        method=method,
        seed=source.seed,
        status="failed",
        reason=reason,
        spec=run.model_dump(mode="json"),
        **provenance(source.model),
    )


def train_and_evaluate(
    run: RunSpec, timings: dict[str, float], on_update: Callable[[int], None] | None
) -> dict[str, Any]:
    """A trained run's result fields; seconds per phase go into ``timings``. The run's context
    shuts its evaluation engine down when the run ends, finished or failed."""
    from peft_rlvr_bench.context import RunContext

    with RunContext.for_run(run.data, run.generation, timings) as context:
        return _train_and_evaluate(run, context, timings, on_update)


def _train_and_evaluate(
    run: RunSpec,
    context: RunContext,
    timings: dict[str, float],
    on_update: Callable[[int], None] | None,
) -> dict[str, Any]:
    from transformers import set_seed

    from peft_rlvr_bench.adapters.checkpoints import save_trained
    from peft_rlvr_bench.evaluation.final import final_evaluation
    from peft_rlvr_bench.extrapolation.from_trajectory import parameter_snapshot
    from peft_rlvr_bench.geometry.model import run_geometry
    from peft_rlvr_bench.models import base_name, load_base
    from peft_rlvr_bench.rlvr.train import train_run
    from peft_rlvr_bench.runner.curves import learning_curve

    clock = time.perf_counter()
    device = run_device()
    set_seed(run.seed)
    model, tokenizer = load_base(run.model, device=device)
    # W0 before the adapter touches the model: residual methods (PiSSA, ...) rewrite the base in
    # place, and geometry is always measured against the original weights. Kept on the CPU, by
    # rank 0 alone: it alone measures geometry (8 ranks would hold 8 copies of a 6 GB model).
    w0 = parameter_snapshot(model, device="cpu") if is_main_process() else None
    timings["setup"] = time.perf_counter() - clock

    clock = time.perf_counter()
    directory = run_dir(run.suite, run.run_id)
    trained = train_run(
        run,
        model,
        tokenizer,
        context,
        device,
        directory,
        on_update,
        record_trajectory=True,
        snapshot_initial=True,
        resume=True,
    )
    timings["train"] = time.perf_counter() - clock
    if not is_main_process():  # a launched run's other processes only train; rank 0 saves and evaluates
        return {"train_curve": trained.curve}
    clock = time.perf_counter()
    save_trained(
        trained.model,
        final_dir(run.suite, run.run_id),
        trained.initial_adapter,
        tokenizer=tokenizer,
        base_name=base_name(run.model),
    )
    timings["save"] = time.perf_counter() - clock
    crash_point("evaluate")

    clock = time.perf_counter()
    merged = trained.adapter.merge(trained.model)
    timings["merge"] = time.perf_counter() - clock
    if run.eval_split == "validation":  # a selection candidate: its score, on no eval item
        score = _selection_score(run, merged, tokenizer, device, context, timings)
        return {**score, **trained_fields(trained)}
    evaluated = final_evaluation(
        merged,
        tokenizer,
        run.eval,
        device,
        context,
        timings,
        reference=lambda: load_base(run.model, device=device)[0],
    )

    clock = time.perf_counter()
    assert w0 is not None  # rank 0
    geometry = run_geometry(w0, merged)
    del w0
    timings["geometry"] = time.perf_counter() - clock

    curve = []
    if run.trajectory is not None:
        clock = time.perf_counter()
        curve = learning_curve(run, evaluated["metrics"]["in_domain"].score, device, context)
        timings["learning_curve"] = time.perf_counter() - clock
    return {
        **evaluated,
        **trained_fields(trained),
        "learning_curve": curve,
        "geometry": geometry,
        "backends": context.backends.as_dict(),
    }


def trained_fields(trained: Any) -> dict[str, Any]:
    """What every trained run's result records of its training."""
    return {
        "trainable_params": trained.trainable,
        "total_params": trained.total,
        "train_curve": trained.curve,
        "train_config": trained.train_config,
    }


def _selection_score(
    run: RunSpec, merged: Any, tokenizer: Any, device: str, context: Any, timings: dict[str, float]
) -> dict[str, Any]:
    """A selection candidate's greedy accuracy on validation items (the train split, drawn with
    ``VALIDATION_SEED``), per task with per-item scores: nothing of the eval split is read."""
    from peft_rlvr_bench.evaluation import by_role, greedy_scores

    clock = time.perf_counter()
    scores = greedy_scores(merged, tokenizer, run.eval, device, split="validation", context=context)
    timings["eval"] = time.perf_counter() - clock
    return {"metrics": by_role(scores, run.eval), "backends": context.backends.as_dict()}


def _contained(
    common: dict[str, Any],
    spec: dict[str, Any],
    model: ModelSpec,
    work: Callable[[dict[str, float]], dict[str, Any]],
) -> RunResult:
    """Runs ``work``; a divergence becomes a ``diverged`` result, any other exception a ``failed``
    one with its traceback kept on disk. Either way the verifier faults of the run are counted."""
    from peft_rlvr_bench.rlvr.resilience import Diverged
    from peft_rlvr_bench.verifier_faults import counting_faults

    started = time.perf_counter()
    timings: dict[str, float] = {}
    reset_gpu_peak()
    with counting_faults() as faults:
        try:
            outcome = work(timings)
            status, reason = "ok", None
        except Diverged as diverged:
            outcome = {
                "train_curve": diverged.curve,
                "train_config": diverged.train_config,
                "divergence": diverged.details(),
            }
            status, reason = "diverged", str(diverged)
        except Exception as exc:  # one run's failure must not cost the suite
            outcome, status, reason = {}, "failed", _failure_reason(exc, common)
    timings["total"] = time.perf_counter() - started
    return RunResult(
        status=status,
        reason=reason,
        timings=timings,
        peak_memory_mb=peak_memory_mb(),
        gpu_memory=gpu_memory(),
        spec=spec,
        verifier_faults=faults.as_dict(),
        **common,
        **outcome,
        **provenance(model),
    )


def _failure_reason(exc: Exception, common: dict[str, Any]) -> str:
    """One line for the result: the error, and where its traceback is (when the disk takes it)."""
    first_line = next(iter(str(exc).splitlines()), "")[:400]
    if is_disk_full(exc):
        return disk_full_reason(exc, outputs_dir())
    trace = run_dir(common["suite"], common["run_id"]) / "traceback.txt"
    try:
        trace.parent.mkdir(parents=True, exist_ok=True)
        trace.write_text(traceback.format_exc())
    except OSError:
        return f"{type(exc).__name__}: {first_line}"
    return f"{type(exc).__name__}: {first_line} (traceback: {trace})"


def tidy_run_dir(run: RunSpec | DerivedRun, result: RunResult) -> None:
    """After a run's result is written: its trainer checkpoints go (a failed run keeps them, to
    resume when retried), and so does its trajectory if the suite says ``trajectory: {keep: false}``."""
    if result.status == "failed":
        return
    directory = run_dir(run.source.suite if isinstance(run, DerivedRun) else run.suite, run.run_id)
    shutil.rmtree(directory / "trainer", ignore_errors=True)
    if isinstance(run, RunSpec) and run.trajectory is not None and not run.trajectory.keep:
        shutil.rmtree(trajectory_dir(run.suite, run.run_id), ignore_errors=True)
