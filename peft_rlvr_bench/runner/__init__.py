"""The local runner: base evaluation once, then every run not finished yet, then the leaderboard.

Each run maps to a fixed result file; a run whose file exists is skipped (unless it failed), so
rerunning a finished suite takes seconds and an interrupted one picks up where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import Progress

from peft_rlvr_bench.console import LIVE, progress_columns
from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.suite import Suite

if TYPE_CHECKING:
    from peft_rlvr_bench.runner.plan import Work


@dataclass
class SuiteOutcome:
    ran: list[RunResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _build_world_with_progress(suite: Suite, progress: Progress) -> None:
    """Builds a tiny world that is neither committed nor cached, with a progress bar over its SFT
    steps (minutes); a committed world is hash-checked instead (UserError on a mismatch)."""
    from peft_rlvr_bench.world.build import ensure_world, world_is_built

    recipe = suite.spec.model.world
    if recipe is None:
        return
    if world_is_built(recipe):
        ensure_world(recipe)
        return
    task = progress.add_task("tiny world: SFT pretraining (first use only)", total=recipe.sft_steps)
    ensure_world(recipe, on_step=lambda step: progress.update(task, completed=step))


def run_suite(
    suite: Suite, results_root: Path, force: bool = False, console: Console | None = None, jobs: int = 1
) -> SuiteOutcome:
    """Runs what is missing (everything with ``force``) and writes one result file per run.

    The order and the skips come from ``plan.plan_suite``, shared with the Ray backend
    (``runner.ray_backend``); each unit runs through ``plan.execute_work``, here one at a time, or
    with ``jobs`` > 1 up to that many at a time in worker processes (``runner.pool``).
    """
    from peft_rlvr_bench.backends import require_backend
    from peft_rlvr_bench.runner.plan import evaluate_and_save_base, execute_work, plan_notes, plan_suite

    require_backend(suite.spec.generation)
    console = console or Console(stderr=True)
    name = suite.spec.name
    with Progress(*progress_columns(), console=console, transient=False) as progress:
        # The world first: existing results are judged against its hash.
        _build_world_with_progress(suite, progress)
        plan = plan_suite(suite, results_root, force)
        outcome = SuiteOutcome(skipped=plan.skipped)
        for note in plan_notes(name, plan):
            console.print(note, markup=False, highlight=False)
        if plan.base:
            task = progress.add_task("base model: evaluating", total=1)
            evaluate_and_save_base(suite, results_root)
            progress.advance(task)
        trained = [work for work in plan.work if work.counted and not work.derived]
        runs_task = progress.add_task(f"suite {name}", total=len(trained))
        updates_task = progress.add_task(
            "updates", total=suite.runs[0].budget.max_steps if trained else 0, live=True
        )

        def on_update(step: int) -> None:
            progress.update(updates_task, completed=step)

        def record(work: Work, result: RunResult) -> None:
            if result.status != "ok":
                console.print(f"[red]{work.run_id}: {result.status}: {result.reason}[/red]")
            if work.counted:
                outcome.ran.append(result)
                if not work.derived:
                    progress.advance(runs_task)

        if jobs > 1:
            from peft_rlvr_bench.runner.pool import run_plan_in_pool

            progress.update(updates_task, description=f"  {jobs} runs at a time", visible=False)
            run_plan_in_pool(plan, suite, results_root, jobs, record)
        else:
            for work in plan.work:
                LIVE.pop("reward", None)  # the last run's reward is not this one's
                # reset, not update: the time-left estimate must forget the previous run's rate.
                progress.reset(updates_task, description=f"  {work.run_id}")
                record(work, execute_work(work, suite, results_root, on_update=on_update))
        progress.update(runs_task, description=f"suite {name}: done")
    return outcome
