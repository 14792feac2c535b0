"""A suite's plan: what runs, in which order, after what; shared by the local and the Ray backends.

The plan holds every run whose result is missing (or failed, or everything with ``force``), plus
finished runs whose outputs a pending run needs and this machine lacks: results are committed,
checkpoints and trajectories are not, so a fresh clone retrains the (deterministic) run that an
``rl_delta`` mask or an extrapolation builds on. Each unit names the units it waits for; the local
backend runs them in plan order, the Ray backend hands those names to Ray as task dependencies.

A finished result made under another world or other key package versions or lock than this
process's (``environment.differences``) is stale: the plan reruns it rather than mix its figures
with new ones, and says so. A result made on another CPU model alone is kept, with a note.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from peft_rlvr_bench.environment import Provenance, cpu_change, differences
from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.paths import final_dir, run_dir, trajectory_dir
from peft_rlvr_bench.reporting.atomic import sweep_temporaries
from peft_rlvr_bench.reporting.results import (
    RunResult,
    base_result_path,
    load_result,
    read_result,
    run_result_path,
)
from peft_rlvr_bench.reporting.samples import samples_path, save_result_and_samples
from peft_rlvr_bench.reporting.steps_saved import with_steps_saved
from peft_rlvr_bench.suite import DerivedRun, RunSpec, Suite, SuiteSpec


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
    stale: dict[str, list[str]] = field(default_factory=dict)
    """Finished results (run ids; ``base``) made under another world or versions, with what
    differs; the plan reruns them."""
    cpu_change: str | None = None
    """``'result CPU -> this CPU'`` when kept results were made on another CPU model."""
    corrupt: list[str] = field(default_factory=list)
    """One line per result file that could not be read; the plan reruns those runs."""


class _Judge:
    """Decides, result by result, whether a finished result stands in this environment."""

    def __init__(self, present: Provenance | None) -> None:
        self.present = present
        self.stale: dict[str, list[str]] = {}
        self.cpu_change: str | None = None
        self.corrupt: list[str] = []

    def current(self, key: str, result: RunResult) -> bool:
        if self.present is None:
            return True
        found = differences(result, self.present)
        if found:
            self.stale[key] = found
            return False
        self.cpu_change = self.cpu_change or cpu_change(result, self.present)
        return True

    def read(self, path: Path) -> RunResult | None:
        """The result at ``path``; None when it is absent or unreadable (truncated by a full
        disk, edited by hand): the plan reruns it, and says so."""
        if not path.exists():
            return None
        try:
            return read_result(path)
        except UserError as exc:
            self.corrupt.append(str(exc).replace("; delete it and rerun the suite", ""))
            return None


def finished(path: Path, judge: _Judge | None = None) -> bool:
    """A result file that is not a failure (failures, an OOM or a bug since fixed, are retried)
    and, with a ``judge``, made in this environment."""
    result = (judge or _Judge(None)).read(path)
    if result is None:
        return False
    return result.status != "failed" and (judge is None or judge.current(result.run_id, result))


def base_is_current(path: Path, suite: Suite, judge: _Judge | None = None) -> bool:
    result = (judge or _Judge(None)).read(path)
    if result is None:
        return False
    return (
        result.status != "failed"
        and result.spec == suite.spec.base_identity()
        and (judge is None or judge.current("base", result))
    )


def plan_suite(
    suite: Suite, results_root: Path, force: bool = False, present: Provenance | None = None
) -> Plan:
    """The suite's pending work in suite order, each unit after the units it needs.

    ``present`` is what finished results are compared with (default: this process's versions,
    lock and the suite's world, ``provenance.present_stamp``); stale ones are pending again.
    """
    from peft_rlvr_bench.runner.provenance import present_stamp

    name = suite.spec.name
    judge = _Judge(None if force else present or present_stamp(suite.spec.model))
    by_id = {run.run_id: run for run in suite.runs}
    pending = {
        run.run_id
        for run in suite.runs
        if force or not finished(run_result_path(results_root, name, run.run_id), judge)
    }
    work: dict[str, Work] = {}

    def add_trained(run: RunSpec, counted: bool) -> None:
        if run.run_id in work:
            return
        after = []
        for dependency in run.dependencies.values():
            if dependency in pending or not final_dir(by_id[dependency].suite, dependency).exists():
                add_trained(by_id[dependency], counted=dependency in pending)
                after.append(dependency)
        work[run.run_id] = Work(run, tuple(after), counted)

    for run in suite.runs:
        if run.run_id in pending:
            add_trained(run, counted=True)
    for derived in suite.derived:
        if not force and finished(run_result_path(results_root, name, derived.run_id), judge):
            continue
        source = derived.source
        if (
            source.run_id not in work
            and not (trajectory_dir(source.suite, source.run_id) / "manifest.json").exists()
        ):
            add_trained(source, counted=False)
        after = (source.run_id,) if source.run_id in work else ()
        work[derived.run_id] = Work(derived, after)
    base = force or not base_is_current(base_result_path(results_root, name), suite, judge)
    return Plan(
        base=base,
        work=list(work.values()),
        skipped=[run.run_id for run in suite.runs if run.run_id not in pending],
        stale=judge.stale,
        cpu_change=judge.cpu_change,
        corrupt=judge.corrupt,
    )


def plan_notes(suite: str, plan: Plan) -> list[str]:
    """The lines a runner prints before it starts: skips, then ``environment_notes``."""
    skipped = [f"{len(plan.skipped)} finished run(s) skipped; --force reruns them"] if plan.skipped else []
    return skipped + environment_notes(suite, plan)


def environment_notes(suite: str, plan: Plan) -> list[str]:
    """Stale results (one line for the whole suite, naming what differs) and a note when kept
    results were made on another CPU."""
    notes = [f"{problem}: treated as missing, will be rerun" for problem in plan.corrupt]
    if plan.stale:
        what = list(dict.fromkeys(phrase for found in plan.stale.values() for phrase in found))
        shown = "; ".join(what[:4]) + ("; ..." if len(what) > 4 else "")
        runs = len([key for key in plan.stale if key != "base"])
        parts = [f"{runs} result(s)"] if runs else []
        parts += ["the base evaluation"] if "base" in plan.stale else []
        which = " and ".join(parts)
        notes.append(
            f"{suite}: {which} made under another world or package versions ({shown}): stale, will be rerun"
        )
    if plan.cpu_change:
        notes.append(
            f"{suite}: note: kept results were made on another CPU ({plan.cpu_change}); RL runs may "
            "differ slightly across processors (docs/reproducibility.md)"
        )
    return notes


def evaluate_and_save_base(suite: Suite, results_root: Path) -> RunResult:
    """The base evaluation and its result file, in a process of its own where runs get one
    (``runner.isolate``). A failure (a gated dataset, out of memory) is a ``failed`` base result,
    contained like a run's: the suite goes on, and the next ``prb run`` retries it."""
    from peft_rlvr_bench.runner.isolate import isolation_wanted, run_isolated

    name = suite.spec.name
    sweep_temporaries(results_root / name)  # what a writer killed in an earlier run left
    path = base_result_path(results_root, name)
    if not isolation_wanted(suite.spec.launch):
        return save_base(suite.spec, results_root)
    directory = run_dir(name, "base")
    done, reason = run_isolated("base", suite.spec.model_dump_json(), directory, path, results_root)
    if done:
        return load_result(path)
    from peft_rlvr_bench.runner.execute import failed_base

    return save_result_and_samples(
        failed_base(suite.spec, reason), path, samples_path(results_root, name, "base")
    )


def save_base(spec: SuiteSpec, results_root: Path) -> RunResult:
    """Evaluates the base model in this process and writes its result file."""
    from peft_rlvr_bench.runner.execute import evaluate_base

    return save_result_and_samples(
        evaluate_base(spec),
        base_result_path(results_root, spec.name),
        samples_path(results_root, spec.name, "base"),
    )


def execute_work(
    work: Work, suite: Suite, results_root: Path, on_update: Callable[[int], None] | None = None
) -> RunResult:
    """Runs one unit of the plan under its run directory's lock (``runner.lock``: one runner per
    run), writes its samples sidecar and result file, then prunes what the result makes
    redundant (``tidy_run_dir``)."""
    from peft_rlvr_bench.runner.execute import tidy_run_dir
    from peft_rlvr_bench.runner.lock import run_lock

    # The run's own suite: a selection candidate's results are filed under the stage, its files not.
    owner = work.run.source.suite if isinstance(work.run, DerivedRun) else work.run.suite
    with run_lock(run_dir(owner, work.run_id), work.run_id):
        result_file = run_result_path(results_root, suite.spec.name, work.run_id)
        sidecar = samples_path(results_root, suite.spec.name, work.run_id)
        sweep_temporaries(results_root / suite.spec.name, owned={result_file.name, sidecar.name})
        result = _execute_work(work, suite, results_root, on_update)
        tidy_run_dir(work.run, result)
    return result


def _execute_work(
    work: Work, suite: Suite, results_root: Path, on_update: Callable[[int], None] | None = None
) -> RunResult:
    """Runs one unit of the plan and writes its samples sidecar and result file; returns the
    result as a reader would load it (without its samples).

    A trained run of a suite with ``launch: {processes: N > 1}`` goes through ``accelerate launch``
    (``runner.launch``), whose rank 0 writes the file; where runs get a process of their own
    (``runner.isolate``: a CUDA machine, or ``launch: {isolate: true}``) every other unit runs in a
    child process; otherwise in this process.
    """
    from peft_rlvr_bench.runner.isolate import isolation_wanted, run_isolated

    launch = suite.spec.launch
    if not work.derived and launch is not None and launch.processes > 1:
        from peft_rlvr_bench.runner.launch import run_launched

        assert isinstance(work.run, RunSpec)
        return run_launched(work.run, launch, results_root)
    if not isolation_wanted(launch):
        return run_unit(work.run, results_root, on_update, filed_under=suite.spec.name)
    name = suite.spec.name
    path = run_result_path(results_root, name, work.run_id)
    kind = "derived" if work.derived else "run"
    done, reason = run_isolated(
        kind, work.run.model_dump_json(), run_dir(name, work.run_id), path, results_root, on_update
    )
    if done:
        return load_result(path)
    from peft_rlvr_bench.runner.execute import failed_result

    return save_result_and_samples(
        failed_result(work.run, reason), path, samples_path(results_root, name, work.run_id)
    )


def run_unit(
    unit: RunSpec | DerivedRun,
    results_root: Path,
    on_update: Callable[[int], None] | None = None,
    filed_under: str | None = None,
) -> RunResult:
    """Executes a trained or derived run in this process and writes its result file under
    ``results_root/<filed_under>/`` (default: the run's own suite; a selection candidate is filed
    under its stage); a derived run reads its source's result and the base's, which the plan put
    before it."""
    from peft_rlvr_bench.runner.execute import execute_derived, execute_run

    if isinstance(unit, DerivedRun):
        name = filed_under or unit.source.suite
        result = execute_derived(unit, on_update=on_update)
        source = load_result(run_result_path(results_root, name, unit.source.run_id))
        result = with_steps_saved(result, source, load_result(base_result_path(results_root, name)))
    else:
        name = filed_under or unit.suite
        result = execute_run(unit, on_update=on_update)
    path = run_result_path(results_root, name, unit.run_id)
    return save_result_and_samples(result, path, samples_path(results_root, name, unit.run_id))
