"""What the leaderboard page shows besides its cells: per-task scores, links to the result files,
whose timings were taken on a busy machine, and where and when the results were made.

Pure functions of the run results, called by ``leaderboard.build_leaderboard``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from peft_rlvr_bench.environment import timings_contended
from peft_rlvr_bench.reporting.results import ROLES, RunResult
from peft_rlvr_bench.reporting.stats import mean

SHOWN_VERSIONS = ("peft_rlvr_bench", "torch", "transformers", "trl", "peft", "lm_eval", "python")


@dataclass(frozen=True)
class TaskCell:
    """One task of one row: its role's column value for this task alone, mean over ok seeds."""

    role: str
    task: str
    value: float
    """Accuracy for ``in_domain``/``out_of_domain``; base minus tuned accuracy for ``forgetting``
    (the column's own definition, per task)."""
    n_seeds: int


def task_breakdown(base: RunResult | None, runs: Sequence[RunResult]) -> dict[str, tuple[TaskCell, ...]]:
    """Per row (method, and ``base``), every task of every role, in role then task order."""
    by_method: dict[str, list[RunResult]] = defaultdict(list)
    for run in runs:
        if run.status == "ok":
            by_method[run.method].append(run)
    if base is not None and base.status == "ok":
        by_method["base"] = [base]
    base_accuracy = {
        (role, task): score.accuracy
        for role, scores in (base.metrics.items() if base is not None else ())
        for task, score in scores.tasks.items()
    }
    out: dict[str, tuple[TaskCell, ...]] = {}
    for method, method_runs in by_method.items():
        cells = []
        for role in ROLES:
            tasks = sorted({t for r in method_runs if role in r.metrics for t in r.metrics[role].tasks})
            for task in tasks:
                values = [
                    r.metrics[role].tasks[task].accuracy
                    for r in method_runs
                    if role in r.metrics and task in r.metrics[role].tasks
                ]
                if role == "forgetting":
                    if (role, task) not in base_accuracy:
                        continue
                    values = [base_accuracy[(role, task)] - v for v in values]
                cells.append(TaskCell(role, task, mean(values), len(values)))
        out[method] = tuple(cells)
    return out


def run_links(base: RunResult | None, runs: Sequence[RunResult]) -> dict[str, tuple[str, ...]]:
    """Per row, its result files relative to the suite's results folder, by run id."""
    links: dict[str, list[str]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: r.run_id):
        if run.status == "ok":
            links[run.method].append(f"runs/{run.run_id}.json")
    if base is not None:
        links["base"] = ["base.json"]
    return {method: tuple(files) for method, files in links.items()}


def contended_timings(runs: Sequence[RunResult]) -> dict[str, str]:
    """Per method whose timings are not all from an idle machine, why (``environment``'s
    ``timings_contended``): some runs on a busy machine, or the load not recorded."""
    busy: dict[str, list[bool | None]] = defaultdict(list)
    for run in runs:
        if run.status == "ok" and run.extrapolation is None and run.method != "base":
            hardware = run.environment.hardware if run.environment is not None else None
            busy[run.method].append(timings_contended(hardware))
    notes = {}
    for method, flags in busy.items():
        if any(flags):
            notes[method] = f"{sum(1 for f in flags if f)} of {len(flags)} runs timed on a busy machine"
        elif any(flag is None for flag in flags):
            notes[method] = "machine load not recorded: timings may be contended"
    return notes


def provenance(base: RunResult | None, runs: Sequence[RunResult]) -> tuple[tuple[str, str], ...]:
    """``(label, text)`` lines: commit(s), package versions, hardware, dates of the results."""
    results = [r for r in ([base] if base is not None else []) + list(runs)]
    if not results:
        return ()
    commits = sorted(
        {
            str(r.git.get("commit", ""))[:10] + ("+dirty" if r.git.get("dirty") else "")
            for r in results
            if r.git.get("commit")
        }
    )
    first = results[0]
    versions = ", ".join(
        f"{name} {first.versions[name]}" for name in SHOWN_VERSIONS if name in first.versions
    )
    machines = sorted({_machine(r.environment.hardware) for r in results if r.environment is not None})
    dates = sorted(r.created_at for r in results if r.created_at)
    lines = [
        ("commit", ", ".join(commits) or "not recorded"),
        ("versions", versions or "not recorded"),
        ("hardware", "; ".join(machines) or "not recorded"),
        ("made", f"{dates[0][:10]} to {dates[-1][:10]}" if dates else "not recorded"),
    ]
    return tuple(lines)


def _machine(hardware: object) -> str:
    cpu = getattr(hardware, "cpu", None) or "unknown CPU"
    count = getattr(hardware, "cpu_count", None)
    gpu = getattr(hardware, "gpu", None)
    text = f"{cpu} x{count}" if count else cpu
    return f"{text}, {gpu}" if gpu else text
