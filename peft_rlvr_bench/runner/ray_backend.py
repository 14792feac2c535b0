"""Many runs across GPUs and nodes: each unit of the suite's plan becomes one Ray task.

The plan (``plan.plan_suite``) is the local runner's: the same runs, skips and reruns. Each task
runs ``plan.execute_work``, the local runner's own function, so it writes the same result file;
a task that needs another run's output (an ``rl_delta`` mask needs its ``full`` run's final
weights, an extrapolation its source's trajectory and result, every extrapolation the base's
result) receives that task's ObjectRef as an argument, and Ray starts it only once they finished.

Every node must see the same results directory, outputs directory (``$PRB_OUTPUTS_DIR``) and cache
(``$PRB_CACHE_DIR``, for the tiny world) at the same absolute paths: a shared filesystem. The
tasks get the driver's absolute paths. A task asks for the GPUs its run uses (``launch.processes``
of them for a launched run, else one when the cluster has GPUs, none on a CPU-only cluster) and
``cpus_per_run`` CPUs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.results import RunResult, run_result_path
from peft_rlvr_bench.reporting.samples import samples_path, save_result_and_samples
from peft_rlvr_bench.runner import SuiteOutcome
from peft_rlvr_bench.runner.plan import Work, evaluate_and_save_base, execute_work, plan_notes, plan_suite
from peft_rlvr_bench.suite import Suite


def _quiet() -> None:
    from peft_rlvr_bench.console import quiet_libraries

    quiet_libraries()  # a task's library chatter reaches the driver's terminal


def _run_base(suite: Suite, results_root: str) -> str:
    _quiet()
    evaluate_and_save_base(suite, Path(results_root))
    return "base"


def _run_work(suite: Suite, work: Work, results_root: str, *_finished_before: Any) -> RunResult:
    """One unit of the plan; the extra arguments are the tasks it waits for (Ray resolves them first)."""
    _quiet()
    return execute_work(work, suite, Path(results_root))


def task_gpus(suite: Suite, work: Work | None, cluster_has_gpus: bool) -> int:
    """GPUs a task asks for: a launched trained run's processes, else one GPU when there are any."""
    launch = suite.spec.launch
    if work is not None and not work.derived and launch is not None and launch.processes > 1:
        return launch.processes if cluster_has_gpus else 0
    return 1 if cluster_has_gpus else 0


FORWARDED_ENVIRONMENT = (
    "HF_TOKEN",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_DATASETS_CACHE",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
)
"""The driver's Hugging Face settings a task needs too: the token for gated models and datasets
(GPQA), and where the downloads are cached (a worker would otherwise download them again)."""


def _environment() -> dict[str, str]:
    """The driver's output and cache locations, absolute, for every task (a shared filesystem),
    and its Hugging Face token and cache settings where set."""
    import os

    from peft_rlvr_bench.paths import cache_dir, outputs_dir

    forwarded = {name: os.environ[name] for name in FORWARDED_ENVIRONMENT if name in os.environ}
    return {
        "PRB_OUTPUTS_DIR": str(outputs_dir().resolve()),
        "PRB_CACHE_DIR": str(cache_dir().resolve()),
        **forwarded,
    }


def run_suite_ray(
    suite: Suite,
    results_root: Path,
    force: bool = False,
    address: str | None = None,
    cpus_per_run: float = 1.0,
    console: Console | None = None,
) -> SuiteOutcome:
    """Runs the suite's plan as Ray tasks on the cluster at ``address`` (``auto``: the running one;
    None: a Ray instance already initialised in this process, else a new local one)."""
    try:
        import ray
    except ImportError:
        raise UserError("--backend ray needs Ray: pip install 'peft_rlvr_bench[ray]'") from None
    from peft_rlvr_bench.backends import require_backend

    require_backend(suite.spec.generation)  # on the driver: workers have the same install

    from peft_rlvr_bench.world.build import ensure_world

    console = console or Console(stderr=True)
    if not ray.is_initialized():
        try:
            ray.init(address=address)
        except ConnectionError as exc:
            first_line = next(iter(str(exc).splitlines()), "")
            raise UserError(
                f"--address {address}: no Ray cluster answers ({first_line}); "
                "start one with `ray start --head`, or drop --address for a local one"
            ) from None
    results = str(results_root.resolve())
    if suite.spec.model.world is not None:
        ensure_world(suite.spec.model.world)  # once, here, before tasks on shared storage need it
    plan = plan_suite(suite, results_root, force)  # after the world: results are judged by its hash
    outcome = SuiteOutcome(skipped=plan.skipped)
    for note in plan_notes(suite.spec.name, plan):
        console.print(note, markup=False, highlight=False)

    has_gpus = ray.cluster_resources().get("GPU", 0) > 0
    runtime_env = {"env_vars": _environment()}
    suite_ref = ray.put(suite)

    def options(work: Work | None) -> dict[str, Any]:
        return {"num_gpus": task_gpus(suite, work, has_gpus), "num_cpus": cpus_per_run, "max_retries": 0}

    base_ref = None
    if plan.base:
        base_task = ray.remote(max_calls=1)(_run_base).options(**options(None), runtime_env=runtime_env)
        base_ref = base_task.remote(suite_ref, results)
    # One task per worker process (max_calls=1): a GPU process keeps what a run leaves behind
    # (runner/isolate.py), and Ray reuses workers unless told otherwise; .options() cannot set it.
    remote_work = ray.remote(max_calls=1)(_run_work)
    refs: dict[str, Any] = {}
    for work in plan.work:
        after = [refs[run_id] for run_id in work.after]
        if work.derived and base_ref is not None:
            after.append(base_ref)
        task = remote_work.options(**options(work), runtime_env=runtime_env)
        refs[work.run_id] = task.remote(suite_ref, work, results, *after)
    console.print(f"submitted {len(refs)} run(s) to Ray ({'GPUs' if has_gpus else 'CPUs only'})")

    by_ref = {ref: work for work, ref in zip(plan.work, refs.values(), strict=True)}
    finished: dict[str, RunResult] = {}
    pending = list(refs.values())
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        work = by_ref[done[0]]
        finished[work.run_id] = _result_of(done[0], work, suite, results_root)
        result = finished[work.run_id]
        style = "green" if result.status == "ok" else "red"
        reason = f": {result.reason}" if result.reason else ""
        console.print(f"[{style}]{work.run_id}: {result.status}{reason}[/{style}]")
    if base_ref is not None:
        ray.get(base_ref)
    outcome.ran = [finished[work.run_id] for work in plan.work if work.counted]
    return outcome


def _result_of(ref: Any, work: Work, suite: Suite, results_root: Path) -> RunResult:
    """The task's result; a task that died (a killed worker, a lost node) leaves a ``failed`` result."""
    import ray

    from peft_rlvr_bench.runner.execute import failed_result

    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        first_line = next(iter(str(exc).splitlines()), "")[:400]
        result = failed_result(work.run, f"Ray task failed: {type(exc).__name__}: {first_line}")
        name = suite.spec.name
        return save_result_and_samples(
            result,
            run_result_path(results_root, name, work.run_id),
            samples_path(results_root, name, work.run_id),
        )
