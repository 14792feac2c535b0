"""Executes one RunSpec (or the base evaluation) and returns its self-describing RunResult."""

from __future__ import annotations

import errno
import resource
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peft_rlvr_bench.crashpoints import crash_point
from peft_rlvr_bench.distributed import is_main_process, local_rank, world_size
from peft_rlvr_bench.environment import (
    Environment,
    Hardware,
    Stamp,
    collect_hardware,
    cpu_model,
    lock_state,
    package_versions,
)
from peft_rlvr_bench.paths import final_dir, lock_file, outputs_dir, repo_root, run_dir, trajectory_dir
from peft_rlvr_bench.reporting.results import CurvePoint, RunResult, StepRecord
from peft_rlvr_bench.suite import DerivedRun, EvalSpec, ModelSpec, RunSpec, SuiteSpec

if TYPE_CHECKING:
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.evaluation.per_item import SampleLog


def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the working tree the harness runs from, when it is a git repo."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit.strip(), "dirty": bool(status.strip())}


def peak_memory_mb() -> float:
    """The process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _device() -> str:
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    return f"cuda:{local_rank()}" if world_size() > 1 else "cuda"  # launched: one GPU per process


def environment(model: ModelSpec, hardware: Hardware | None = None) -> Environment:
    """The world ``model`` names, the lock and the hardware (collected here unless given)."""
    from peft_rlvr_bench.models import world_identity

    return Environment(
        world=world_identity(model),
        lock=lock_state(lock_file(), repo_root()),
        hardware=hardware if hardware is not None else collect_hardware(),
    )


def present_stamp(model: ModelSpec) -> Stamp:
    """What existing results of a suite on ``model`` are compared with; no torch import (the
    hardware holds the CPU model only, the one part of it a comparison reads)."""
    return Stamp(package_versions(), environment(model, Hardware(cpu=cpu_model())))


def _provenance(model: ModelSpec) -> dict[str, Any]:
    return {
        "versions": package_versions(),
        "git": git_state(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(model),
    }


def base_spec(suite: SuiteSpec) -> dict[str, Any]:
    """What determines the base evaluation: the model, the eval settings and, when the suite has a
    ``data`` section, where its dataset tasks read from and how prompts look."""
    spec = {"model": suite.model.model_dump(mode="json"), "eval": suite.eval.identity()}
    if suite.data is not None:
        spec["data"] = suite.data.model_dump(mode="json")
    return spec


def evaluate_base(suite: SuiteSpec) -> RunResult:
    """The untouched base model, scored once per suite (greedy decoding is deterministic, and
    sampling is seeded). Its KL to itself is zero by definition, so it has none."""
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.evaluation import evaluate_in_depth
    from peft_rlvr_bench.models import load_base

    started = time.perf_counter()
    context = RunContext.for_run(suite.data, suite.generation)
    device = _device()
    model, tokenizer = load_base(suite.model, device=device)
    timings = {"load": time.perf_counter() - started}
    samples = sample_log(suite.eval)
    metrics, _ = evaluate_in_depth(
        model, tokenizer, suite.eval, device=device, timings=timings, samples=samples, context=context
    )
    total = sum(p.numel() for p in model.parameters())
    return RunResult(
        suite=suite.name,
        run_id="base",
        method="base",
        seed=None,
        status="ok",
        spec=base_spec(suite),
        metrics=metrics,
        total_params=total,
        timings=timings,
        peak_memory_mb=peak_memory_mb(),
        backends=context.backends.as_dict(),
        samples=None if samples is None else samples.samples(),
        **_provenance(suite.model),
    )


def sample_log(spec: EvalSpec) -> SampleLog | None:
    """A collector of the final evaluation's answers, unless the suite says ``keep_samples: false``."""
    from peft_rlvr_bench.evaluation.per_item import SampleLog

    return SampleLog() if spec.keep_samples else None


def execute_run(run: RunSpec, on_update: Callable[[int], None] | None = None) -> RunResult:
    """Trains, merges and evaluates one run. Failures become a ``failed`` result, not a crash."""
    common = {"suite": run.suite, "run_id": run.run_id, "method": run.adapter.label, "seed": run.seed}
    spec = run.model_dump(mode="json")
    spec["model"]["trust_remote_code"] = run.model.trust_remote_code  # recorded, though not in the id
    return _contained(common, spec, run.model, lambda timings: _train_and_evaluate(run, timings, on_update))


def execute_derived(derived: DerivedRun, on_update: Callable[[int], None] | None = None) -> RunResult:
    """Predicts a checkpoint from the source run's trajectory (training more RL segments when the
    method drives training) and evaluates it like any run."""
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
        lambda timings: _extrapolate_and_evaluate(derived, timings, on_update),
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
        **_provenance(source.model),
    )


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
    with counting_faults() as faults:
        try:
            outcome = work(timings)
            status, reason = "ok", None
        except Diverged as diverged:
            outcome = {"train_curve": diverged.curve, "divergence": diverged.details()}
            status, reason = "diverged", str(diverged)
        except Exception as exc:  # one run's failure must not cost the suite
            outcome, status, reason = {}, "failed", _failure_reason(exc, common)
    timings["total"] = time.perf_counter() - started
    return RunResult(
        status=status,
        reason=reason,
        timings=timings,
        peak_memory_mb=peak_memory_mb(),
        spec=spec,
        verifier_faults=faults.as_dict(),
        **common,
        **outcome,
        **_provenance(model),
    )


def _failure_reason(exc: Exception, common: dict[str, Any]) -> str:
    """One line for the result: the error, and where its traceback is (when the disk takes it)."""
    first_line = next(iter(str(exc).splitlines()), "")[:400]
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" writing {exc.filename}" if exc.filename else ""
        return (
            f"disk full{where}: no space left on the device holding {outputs_dir().resolve()}; "
            "free space (or point PRB_OUTPUTS_DIR at a larger disk) and rerun"
        )
    trace = run_dir(common["suite"], common["run_id"]) / "traceback.txt"
    try:
        trace.parent.mkdir(parents=True, exist_ok=True)
        trace.write_text(traceback.format_exc())
    except OSError:
        return f"{type(exc).__name__}: {first_line}"
    return f"{type(exc).__name__}: {first_line} (traceback: {trace})"


def _extrapolate_and_evaluate(
    derived: DerivedRun, timings: dict[str, float], on_update: Callable[[int], None] | None
) -> dict[str, Any]:
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.evaluation import evaluate_in_depth
    from peft_rlvr_bench.extrapolation import drives_training
    from peft_rlvr_bench.extrapolation.from_trajectory import load_weights_
    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.registry import EXTRAPOLATORS

    clock = time.perf_counter()
    context = RunContext.for_run(derived.source.data, derived.source.generation)
    device = _device()
    source = derived.source
    if drives_training(EXTRAPOLATORS.get(derived.method)):
        from peft_rlvr_bench.runner.driven import drive

        state, figures, session = drive(derived, device, context, on_update)
        model, tokenizer = session.evaluation_model, session.tokenizer
    else:
        state, figures, model, tokenizer = _predict_from_trajectory(derived, device)
    load_weights_(model, state)
    timings["extrapolate"] = time.perf_counter() - clock
    samples = sample_log(source.eval)
    metrics, kl = evaluate_in_depth(
        model,
        tokenizer,
        source.eval,
        device=device,
        reference=lambda: load_base(source.model, device=device)[0],
        timings=timings,
        samples=samples,
        context=context,
    )
    curve = []
    if not drives_training(EXTRAPOLATORS.get(derived.method)):
        clock = time.perf_counter()
        curve = _prediction_curve(derived, model, tokenizer, device, context)
        curve.append(CurvePoint(update=derived.target, in_domain=metrics["in_domain"].score))
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
        "metrics": metrics,
        "kl_to_base": kl,
        "extrapolation": extrapolation,
        "learning_curve": curve,
        "backends": context.backends.as_dict(),
        "samples": None if samples is None else samples.samples(),
    }


def _predict_from_trajectory(
    derived: DerivedRun, device: str
) -> tuple[dict[str, Any], dict[str, Any], Any, Any]:
    """A pure extrapolator's prediction from the source's observed records, and the base to hold it."""
    from peft_rlvr_bench.extrapolation.from_trajectory import extrapolated_state, parameter_snapshot
    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.trajectory import Trajectory

    source = derived.source
    model, tokenizer = load_base(source.model, device=device)
    trajectory = Trajectory(trajectory_dir(source.suite, source.run_id))
    state = extrapolated_state(
        trajectory, parameter_snapshot(model), derived.method, derived.params, derived.observe, derived.target
    )
    figures = {"updates_used": max(u for u in trajectory.updates if u <= derived.observe)}
    return state, figures, model, tokenizer


PREDICTION_CURVE_POINTS = 5
"""Intermediate targets a pure extrapolation is also evaluated at, besides its own target."""


def _prediction_curve(
    derived: DerivedRun, model: Any, tokenizer: Any, device: str, context: RunContext
) -> list[CurvePoint]:
    """In-domain accuracy of the same prediction aimed at recorded updates between the window and
    the target, so a plot shows how it holds up with distance next to the real run's curve."""
    from peft_rlvr_bench.evaluation import evaluate
    from peft_rlvr_bench.extrapolation.from_trajectory import (
        extrapolated_state,
        load_weights_,
        parameter_snapshot,
    )
    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.trajectory import Trajectory

    source = derived.source
    trajectory = Trajectory(trajectory_dir(source.suite, source.run_id))
    between = [u for u in trajectory.updates if derived.observe < u < derived.target]
    stride = max(1, -(-len(between) // PREDICTION_CURVE_POINTS))
    targets = between[::-1][::stride][::-1]  # evenly spaced, ending next to the target
    base_state = parameter_snapshot(load_base(source.model, device=device)[0])
    in_domain_only = source.eval.model_copy(update={"out_of_domain": [], "forgetting": []})
    points = []
    for target in targets:
        state = extrapolated_state(
            trajectory, base_state, derived.method, derived.params, derived.observe, target
        )
        load_weights_(model, state)
        score = evaluate(model, tokenizer, in_domain_only, device=device, context=context)["in_domain"].score
        points.append(CurvePoint(update=target, in_domain=score))
    return points


@dataclass
class _Trained:
    """An adapted model after RL, with what its result reports."""

    model: Any
    adapter: Any
    curve: list[StepRecord]
    trainable: int
    total: int
    initial_adapter: Path | None


def _adapt_and_train(
    run: RunSpec,
    model: Any,
    tokenizer: Any,
    device: str,
    directory: Path,
    on_update: Callable[[int], None] | None,
    context: RunContext,
    record_trajectory: bool = False,
    snapshot_initial: bool = False,
    resume: bool = False,
) -> _Trained:
    """Applies the run's adapter to ``model`` (whatever weights it holds) and runs its RL budget.

    Shared by trained runs (from the base) and by driven extrapolations (from a jumped point):
    both get the same adapter, recipe, hooks and KL reference, so a segment differs from a run
    only in where it starts. With ``resume`` (trained runs of a suite with ``checkpoint:``) a run
    killed earlier continues from its newest trainer checkpoint, which stays on disk until the
    run's result is written (``tidy_run_dir``).
    """
    from peft_rlvr_bench.adapters import ApplyContext, count_parameters
    from peft_rlvr_bench.adapters.checkpoints import snapshot_initial_adapter
    from peft_rlvr_bench.models import load_base, model_location
    from peft_rlvr_bench.registry import ADAPTERS, RECIPES
    from peft_rlvr_bench.rlvr.interventions import rank1_substitution_callback
    from peft_rlvr_bench.rlvr.resilience import checkpoint_step, last_complete_checkpoint, resumable
    from peft_rlvr_bench.rlvr.sft import train_sft
    from peft_rlvr_bench.rlvr.train import train_rlvr
    from peft_rlvr_bench.runner.sharded import (
        GatherWholeWeights,
        load_whole_state,
        refuse_weight_hooks,
        sharded_launch,
    )
    from peft_rlvr_bench.trajectory import TrajectoryRecorder

    adapter = ADAPTERS.get(run.adapter.name)()
    params = adapter.Params.model_validate(run.adapter.params)
    # With a KL term the reference is always the original base, as a separate copy: a PEFT
    # model's "adapter disabled" is a residual for PiSSA-like methods, and TRL's alternative, a
    # second "ref" adapter, is one AdaLoRA cannot hold. (Full fine-tuning reloads it the same way.)
    reference = load_base(run.model, device=device)[0] if run.recipe.params.get("beta", 0.0) > 0 else None
    dependencies = {role: final_dir(run.suite, run_id) for role, run_id in run.dependencies.items()}
    applied = ApplyContext(seed=run.seed, total_updates=run.budget.max_steps, dependency_dirs=dependencies)
    model = adapter.apply(model, params, applied)
    hooks = adapter.hooks(model, params)
    snapshot = snapshot_initial and adapter.rewrites_base and is_main_process()  # rank 0 writes files
    initial = snapshot_initial_adapter(model, directory) if snapshot else None

    callbacks = []
    if run.adapter.intervention is not None:
        callbacks.append(rank1_substitution_callback(model, run.adapter.intervention.every))
    gather = None
    if sharded_launch():  # ZeRO-3/FSDP: rank 0 needs the whole trained weights (runner/sharded.py)
        refuse_weight_hooks(hooks, run.adapter.intervention)
        gather = GatherWholeWeights()
        callbacks.append(gather)
    scratch = directory / "trainer"
    keep_checkpoints = resume and run.checkpoint is not None and resumable(adapter)
    if not keep_checkpoints:  # driven segments and non-resumable adapters: checkpoints nobody reads
        run = run.model_copy(update={"checkpoint": None})
    resume_from = last_complete_checkpoint(scratch) if keep_checkpoints else None
    if record_trajectory and run.trajectory is not None and is_main_process():
        location = model_location(run.model)
        recorder = TrajectoryRecorder(trajectory_dir(run.suite, run.run_id), run.trajectory.every, location)
        if resume_from is not None and not recorder.resume(model, checkpoint_step(resume_from)):
            if world_size() > 1:  # the other processes resume: they cannot be told to restart
                raise RuntimeError(f"{recorder.directory} cannot go on from {resume_from}; delete {scratch}")
            print(f"{run.run_id}: trajectory cannot go on from {resume_from}; restarting", file=sys.stderr)
            resume_from = None
        if resume_from is None:
            shutil.rmtree(trajectory_dir(run.suite, run.run_id), ignore_errors=True)  # a rerun records afresh
        callbacks.append(recorder)
    if resume_from is not None:
        print(f"{run.run_id}: resuming from {resume_from}", file=sys.stderr)
    elif is_main_process():
        shutil.rmtree(scratch, ignore_errors=True)  # checkpoints of an attempt that cannot resume
    train = train_sft if RECIPES.get(run.recipe.name).trainer == "sft" else train_rlvr
    curve = train(
        model,
        tokenizer,
        run,
        scratch,
        hooks=hooks,
        reference=reference,
        on_update=on_update,
        callbacks=callbacks,
        resume_from=resume_from,
        context=context,
    )
    if not keep_checkpoints:
        shutil.rmtree(scratch, ignore_errors=True)
    if gather is not None and gather.state is not None:  # rank 0 of a sharded launch: a plain model again
        fresh = adapter.apply(load_base(run.model, device=device)[0], params, applied)
        model = load_whole_state(fresh, gather.state)
    return _Trained(
        model=model,
        adapter=adapter,
        curve=curve,
        trainable=adapter.trainable_parameters(model),
        total=count_parameters(model)[1],
        initial_adapter=initial,
    )


def _train_and_evaluate(
    run: RunSpec, timings: dict[str, float], on_update: Callable[[int], None] | None
) -> dict[str, Any]:
    from transformers import set_seed

    from peft_rlvr_bench.adapters.checkpoints import save_trained
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.evaluation import evaluate_in_depth
    from peft_rlvr_bench.extrapolation.from_trajectory import parameter_snapshot
    from peft_rlvr_bench.models import load_base

    clock = time.perf_counter()
    context = RunContext.for_run(run.data, run.generation)
    device = _device()
    set_seed(run.seed)
    model, tokenizer = load_base(run.model, device=device)
    # W0 before the adapter touches the model: residual methods (PiSSA, ...) rewrite the base in
    # place, and geometry is always measured against the original weights. Kept on the CPU.
    w0 = parameter_snapshot(model, device="cpu")
    timings["setup"] = time.perf_counter() - clock

    clock = time.perf_counter()
    trained = _adapt_and_train(
        run,
        model,
        tokenizer,
        device,
        run_dir(run.suite, run.run_id),
        on_update,
        context,
        record_trajectory=True,
        snapshot_initial=True,
        resume=True,
    )
    timings["train"] = time.perf_counter() - clock
    if not is_main_process():  # a launched run's other processes only train; rank 0 saves and evaluates
        return {"train_curve": trained.curve}
    clock = time.perf_counter()
    save_trained(trained.model, final_dir(run.suite, run.run_id), trained.initial_adapter)
    timings["save"] = time.perf_counter() - clock
    crash_point("evaluate")

    clock = time.perf_counter()
    merged = trained.adapter.merge(trained.model)
    timings["merge"] = time.perf_counter() - clock
    samples = sample_log(run.eval)
    metrics, kl = evaluate_in_depth(
        merged,
        tokenizer,
        run.eval,
        device=device,
        reference=lambda: load_base(run.model, device=device)[0],
        timings=timings,
        samples=samples,
        context=context,
    )

    clock = time.perf_counter()
    geometry = run_geometry(w0, merged)
    del w0
    timings["geometry"] = time.perf_counter() - clock

    learning_curve = []
    if run.trajectory is not None:
        clock = time.perf_counter()
        learning_curve = _learning_curve(run, metrics["in_domain"].score, device, context)
        timings["learning_curve"] = time.perf_counter() - clock
    return {
        "metrics": metrics,
        "kl_to_base": kl,
        "trainable_params": trained.trainable,
        "total_params": trained.total,
        "train_curve": trained.curve,
        "learning_curve": learning_curve,
        "geometry": geometry,
        "backends": context.backends.as_dict(),
        "samples": None if samples is None else samples.samples(),
    }


def run_geometry(w0: dict[str, Any], merged: Any) -> dict[str, Any]:
    """A run's weight geometry against W0 for its result: the summary without per-tensor records,
    which ``prb analyze --base BASE --tuned <run>/final`` gives for any saved run."""
    from peft_rlvr_bench.analyze import model_geometry

    return model_geometry(w0, merged).model_dump(mode="json", exclude={"tensors"})


def _learning_curve(
    run: RunSpec, final_in_domain: float, device: str, context: RunContext
) -> list[CurvePoint]:
    """In-domain accuracy at every recorded update, rebuilt from the trajectory against W0."""
    from peft_rlvr_bench.evaluation import evaluate
    from peft_rlvr_bench.extrapolation.from_trajectory import (
        effective_state_at,
        load_weights_,
        parameter_snapshot,
    )
    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.trajectory import Trajectory

    trajectory = Trajectory(trajectory_dir(run.suite, run.run_id))
    model, tokenizer = load_base(run.model, device=device)
    base_state = parameter_snapshot(model)
    in_domain_only = run.eval.model_copy(update={"out_of_domain": [], "forgetting": []})
    points = []
    for update in trajectory.updates:
        if update == trajectory.updates[-1] == run.budget.max_steps:
            score = final_in_domain  # the run's own final evaluation: no need to rebuild it
        else:
            try:
                load_weights_(model, effective_state_at(trajectory, base_state, update, base_model=model))
            except NotImplementedError:  # a method whose records cannot be turned into weights yet
                return []
            score = evaluate(model, tokenizer, in_domain_only, device=device, context=context)[
                "in_domain"
            ].score
        points.append(CurvePoint(update=update, in_domain=score))
    return points


def tidy_run_dir(run: RunSpec | DerivedRun, result: RunResult) -> None:
    """After a run's result is written: its trainer checkpoints go (a failed run keeps them, to
    resume when retried), and so does its trajectory if the suite says ``trajectory: {keep: false}``."""
    if result.status == "failed":
        return
    directory = run_dir(run.source.suite if isinstance(run, DerivedRun) else run.suite, run.run_id)
    shutil.rmtree(directory / "trainer", ignore_errors=True)
    if isinstance(run, RunSpec) and run.trajectory is not None and not run.trajectory.keep:
        shutil.rmtree(trajectory_dir(run.suite, run.run_id), ignore_errors=True)
