"""Several runs at once on one machine: the plan's units in a pool of worker processes.

The tiny world's runs are too small to use two cores well: one run on two torch threads takes
about as long as two runs side by side on one thread each. ``prb run --jobs N`` (``run_suite``'s
``jobs``) therefore runs up to N units at a time, each in a fresh process (spawned, so no torch or
lm-eval state is shared) with ``cores // N`` torch threads, which every result records
(``environment.torch_threads``). A unit starts only when every unit it waits for (``Work.after``)
has finished; derived runs also wait for the base evaluation, which runs first in this process.

A worker that dies (killed, out of memory) leaves a ``failed`` result for its run, as a crashed run
does in the local runner, and the pool goes on with a fresh worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.results import RunResult, run_result_path
from peft_rlvr_bench.reporting.samples import samples_path, save_result_and_samples
from peft_rlvr_bench.runner.plan import Plan, Work, execute_work
from peft_rlvr_bench.suite import Suite


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Torch threads for each of ``jobs`` concurrent runs: the cores shared out, at least one."""
    return max(1, (cores or os.cpu_count() or 1) // jobs)


def parse_jobs(value: str, suite: Suite) -> int:
    """``--jobs``: a whole number >= 1, or ``auto``: one run per core for a tiny-world suite on a
    machine without a GPU (small runs use one core each well), else one at a time (a real
    model's run wants the whole GPU)."""
    if value == "auto":
        import torch

        tiny = suite.spec.model.name == "tiny" and suite.spec.model.path is None
        return max(1, os.cpu_count() or 1) if tiny and not torch.cuda.is_available() else 1
    if not value.isdigit() or int(value) < 1:
        raise UserError(f"--jobs {value}: give a whole number of runs at a time (1 or more), or auto")
    return int(value)


def _start_worker(threads: int) -> None:
    import torch

    from peft_rlvr_bench.console import quiet_libraries

    torch.set_num_threads(threads)
    quiet_libraries()  # the workers' library chatter would interleave on the terminal


def _run_in_worker(suite: Suite, work: Work, results_root: str) -> RunResult:
    return execute_work(work, suite, Path(results_root))


def _dead_worker_result(work: Work, suite: Suite, results_root: Path, error: BaseException) -> RunResult:
    from peft_rlvr_bench.runner.execute import failed_result

    result = failed_result(work.run, f"worker process died: {type(error).__name__}: {error}"[:400])
    name = suite.spec.name
    return save_result_and_samples(
        result,
        run_result_path(results_root, name, work.run_id),
        samples_path(results_root, name, work.run_id),
    )


def run_plan_in_pool(
    plan: Plan,
    suite: Suite,
    results_root: Path,
    jobs: int,
    on_result: Callable[[Work, RunResult], None],
    run_one: Callable[[Suite, Work, str], RunResult] = _run_in_worker,
) -> None:
    """Runs ``plan.work`` (the base already evaluated) with up to ``jobs`` units at a time, calling
    ``on_result`` in this process as each finishes, in completion order. ``run_one`` runs a unit
    in a worker (a module-level function: workers are spawned); tests replace it."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    waiting = list(plan.work)
    finished: set[str] = set()
    running: dict[Future[RunResult], Work] = {}
    suspects: set[str] = set()
    """Units running when a worker died: each reruns alone, so a second death names its culprit."""

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_start_worker, initargs=(threads_per_job(jobs),)
        )

    def finish(work: Work, result: RunResult) -> None:
        finished.add(work.run_id)
        on_result(work, result)

    pool = new_pool()
    try:
        while waiting or running:
            ready = [work for work in waiting if all(run_id in finished for run_id in work.after)]
            solo = [work for work in ready if work.run_id in suspects]
            if any(work.run_id in suspects for work in running.values()):
                starting = []  # a suspect runs alone
            elif solo:
                starting = [] if running else solo[:1]  # it starts once the pool is idle
            else:
                starting = ready[: max(0, jobs - len(running))]
            for work in starting:
                waiting.remove(work)
                running[pool.submit(run_one, suite, work, str(results_root))] = work
            if not running:  # every waiting unit waits for one that never ran: a plan bug
                raise RuntimeError(f"unsatisfiable order in the plan: {[w.run_id for w in waiting]}")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = [running[f] for f in done if isinstance(f.exception(), BrokenProcessPool)]
            for future in done:
                work = running.pop(future)
                if work not in broken:
                    finish(work, future.result())
            if broken:
                # A dead worker breaks the whole pool and every unit in it; which one died is
                # unknown, so each reruns alone, and one that dies alone is the culprit.
                broken += list(running.values())
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
                for work in broken:
                    if work.run_id in suspects and len(broken) == 1:
                        finish(work, _dead_worker_result(work, suite, results_root, BrokenProcessPool()))
                    else:
                        suspects.add(work.run_id)
                        waiting.insert(0, work)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
