"""A suite's plan: what runs, in which order, after what; shared by the local and the Ray backends.

The plan holds every run whose result is missing (or failed, or everything with ``force``), plus
finished runs whose outputs a pending run needs and this machine lacks: results are committed,
checkpoints and trajectories are not, so a fresh clone retrains the (deterministic) run that an
``rl_delta`` mask or an extrapolation builds on. Each unit names the units it waits for; the local
backend runs them in plan order, the Ray backend hands those names to Ray as task dependencies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from peft_rlvr_bench.reporting.results import RunResult, base_result_path, load_result, run_result_path
from peft_rlvr_bench.reporting.samples import remove_stale_temporaries, samples_path, save_result_and_samples
from peft_rlvr_bench.suite import DerivedRun, RunSpec, Suite


@dataclass(frozen=True)
class Work:
    """One trained or derived run of the plan and the run ids it waits for."""

    run: RunSpec | DerivedRun
    after: tuple[str, ...] = ()
    counted: bool = True
    """False for a finished run redone only to regenerate the checkpoint or trajectory another needs."""

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def derived(self) -> bool:
        return isinstance(self.run, DerivedRun)


@dataclass
class Plan:
    base: bool
    """Evaluate the base model first (its result is missing or stale); derived runs read it."""
    work: list[Work] = field(default_factory=list)
    """In an order that respects every ``after``."""
    skipped: list[str] = field(default_factory=list)
    """Trained runs whose results are finished."""


def finished(path: Path) -> bool:
    """A result file that is not a failure: failures (an OOM, a bug since fixed) are retried."""
    return path.exists() and load_result(path).status != "failed"


def base_is_current(path: Path, suite: Suite) -> bool:
    from peft_rlvr_bench.runner.execute import base_spec

    return path.exists() and load_result(path).spec == base_spec(suite.spec)


def plan_suite(suite: Suite, results_root: Path, force: bool = False) -> Plan:
    """The suite's pending work in suite order, each unit after the units it needs."""
    from peft_rlvr_bench.runner.execute import final_dir, trajectory_dir

    name = suite.spec.name
    by_id = {run.run_id: run for run in suite.runs}
    pending = {
        run.run_id
        for run in suite.runs
        if force or not finished(run_result_path(results_root, name, run.run_id))
    }
    work: dict[str, Work] = {}

    def add_trained(run: RunSpec, counted: bool) -> None:
        if run.run_id in work:
            return
        after = []
        for dependency in run.dependencies.values():
            if dependency in pending or not final_dir(name, dependency).exists():
                add_trained(by_id[dependency], counted=dependency in pending)
                after.append(dependency)
        work[run.run_id] = Work(run, tuple(after), counted)

    for run in suite.runs:
        if run.run_id in pending:
            add_trained(run, counted=True)
    for derived in suite.derived:
        if not force and finished(run_result_path(results_root, name, derived.run_id)):
            continue
        source = derived.source
        if source.run_id not in work and not (trajectory_dir(source) / "manifest.json").exists():
            add_trained(source, counted=False)
        after = (source.run_id,) if source.run_id in work else ()
        work[derived.run_id] = Work(derived, after)
    return Plan(
        base=force or not base_is_current(base_result_path(results_root, name), suite),
        work=list(work.values()),
        skipped=[run.run_id for run in suite.runs if run.run_id not in pending],
    )


def evaluate_and_save_base(suite: Suite, results_root: Path) -> RunResult:
    from peft_rlvr_bench.runner.execute import evaluate_base

    name = suite.spec.name
    return save_result_and_samples(
        evaluate_base(suite.spec),
        base_result_path(results_root, name),
        samples_path(results_root, name, "base"),
    )


def execute_work(
    work: Work, suite: Suite, results_root: Path, on_update: Callable[[int], None] | None = None
) -> RunResult:
    """Runs one unit of the plan under its run directory's lock (``runner.lock``: one runner per
    run), writes its samples sidecar and result file, then prunes what the result makes
    redundant (``tidy_run_dir``)."""
    from peft_rlvr_bench.runner.execute import run_dir, tidy_run_dir
    from peft_rlvr_bench.runner.lock import run_lock

    with run_lock(run_dir(suite.spec.name, work.run_id), work.run_id):
        remove_stale_temporaries(run_result_path(results_root, suite.spec.name, work.run_id))
        remove_stale_temporaries(samples_path(results_root, suite.spec.name, work.run_id))
        result = _execute_work(work, suite, results_root, on_update)
        tidy_run_dir(work.run, result)
    return result


def _execute_work(
    work: Work, suite: Suite, results_root: Path, on_update: Callable[[int], None] | None = None
) -> RunResult:
    """Runs one unit of the plan and writes its samples sidecar and result file; returns the
    result as a reader would load it (without its samples).

    A trained run of a suite with ``launch: {processes: N > 1}`` goes through ``accelerate launch``
    (``runner.launch``), whose rank 0 writes the file; everything else runs in this process.
    A derived run reads its source's result and the base's, which the plan put before it.
    """
    from peft_rlvr_bench.runner import with_steps_saved
    from peft_rlvr_bench.runner.execute import execute_derived, execute_run

    name = suite.spec.name
    path = run_result_path(results_root, name, work.run_id)
    if isinstance(work.run, DerivedRun):
        result = execute_derived(work.run, on_update=on_update)
        source = load_result(run_result_path(results_root, name, work.run.source.run_id))
        result = with_steps_saved(result, source, load_result(base_result_path(results_root, name)))
    elif suite.spec.launch is not None and suite.spec.launch.processes > 1:
        from peft_rlvr_bench.runner.launch import run_launched

        return run_launched(work.run, suite.spec.launch, results_root)
    else:
        result = execute_run(work.run, on_update=on_update)
    return save_result_and_samples(result, path, samples_path(results_root, name, work.run_id))
