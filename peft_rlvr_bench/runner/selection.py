"""The selection stage of a ``select:`` suite: train the candidates, choose, record, then compare.

``prb run SUITE`` runs it before the comparison. Candidates are ordinary trained runs (their own
ids: the selection seeds, budget and validation items are part of them) planned and executed by
the runner's own planner, so a killed stage resumes: finished candidates are skipped, a killed
one resumes from its trainer checkpoints. Their results are filed under
``results/<suite>/selection/runs/``, the choice and its evidence in
``results/<suite>/selection/choice.json`` and ``results/<suite>/selection.md``; their files under
``outputs/<suite>/`` like any run's.

A recorded choice stands only while it matches the suite: any edit that changes a candidate's
id (a grid value, the selection seeds, the budget, the items) makes it stale, and the next run
selects again, reusing every candidate result that is still current.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from rich.console import Console

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.results import RunResult, load_result, run_result_path, write_text_atomic
from peft_rlvr_bench.reporting.selection import (
    EntryChoice,
    SelectionRecord,
    candidate,
    choose,
    selection_markdown,
)
from peft_rlvr_bench.suite import RunSpec, Suite, with_choice
from peft_rlvr_bench.suite.expand import expand
from peft_rlvr_bench.suite.sweep import Point, selection_round

if TYPE_CHECKING:
    from peft_rlvr_bench.runner.plan import Work

STAGE = "selection"
"""The stage's folder under ``results/<suite>/``; its results are filed like a suite's runs."""


def record_path(results_root: Path, suite: str) -> Path:
    return results_root / suite / STAGE / "choice.json"


def markdown_path(results_root: Path, suite: str) -> Path:
    return results_root / suite / "selection.md"


def stage_round(suite: Suite, chosen: dict[int, Point]) -> tuple[Suite, dict[str, tuple[int, Point]]] | None:
    """The next round's runs as a suite filed under ``results/<suite>/selection/`` (the runs keep
    their suite's name, so their files stay under ``outputs/<suite>/``), and its candidates."""
    found = selection_round(suite.spec, suite.source, suite.sweeps, chosen)
    if found is None:
        return None
    spec, candidates = found
    runs = expand(spec, eval_split="validation")
    stage = Suite(spec=spec.model_copy(update={"name": STAGE}), path=suite.path, runs=runs)
    return stage, candidates


def _by_candidate(runs: list[RunSpec], candidates: dict[str, tuple[int, Point]]) -> dict[str, list[RunSpec]]:
    grouped: dict[str, list[RunSpec]] = {label: [] for label in candidates}
    for run in runs:
        if run.adapter.label in grouped:
            grouped[run.adapter.label].append(run)
    return grouped


def run_selection(
    suite: Suite,
    results_root: Path,
    force: bool = False,
    console: Console | None = None,
    execute: Callable[..., RunResult] | None = None,
    jobs: int = 1,
) -> Suite:
    """Runs what the selection stage lacks, chooses each swept entry's point, records the choice
    and its evidence, and returns the suite with its comparison runs at the chosen points.
    ``execute`` runs one unit of the plan (default ``plan.execute_work``; tests wrap it); with
    ``jobs`` > 1 and the default, up to that many units run at a time (``runner.pool``)."""
    from peft_rlvr_bench.runner.plan import execute_work, plan_suite

    execute = execute or execute_work
    console = console or Console(stderr=True)
    select = suite.spec.select
    assert select is not None
    root = results_root / suite.spec.name
    chosen: dict[int, Point] = {}
    entries: list[EntryChoice] = []
    done: set[str] = set()  # with --force, a provider rerun in round 1 is not rerun in round 2
    while (found := stage_round(suite, chosen)) is not None:
        stage, candidates = found
        plan = plan_suite(stage, root, force)
        work = [unit for unit in plan.work if unit.run_id not in done]
        console.print(
            f"{suite.spec.name}: selection: {len(candidates)} candidate(s), {len(work)} run(s) to train, "
            f"{len(plan.skipped)} finished",
            markup=False,
            highlight=False,
        )

        def report(unit: Work, result: RunResult) -> None:
            done.add(unit.run_id)
            note = "" if result.status == "ok" else f": {result.status}: {result.reason}"
            console.print(f"  selection {unit.run_id}{note}", markup=False, highlight=False)

        if jobs > 1 and execute is execute_work:
            from peft_rlvr_bench.runner.pool import run_plan_in_pool

            run_plan_in_pool(replace(plan, work=work), stage, root, jobs, report)
        else:
            for unit in work:
                report(unit, execute(unit, stage, root))
        grouped = _by_candidate(stage.runs, candidates)
        by_entry: dict[int, list[str]] = {}
        for label, (index, _) in candidates.items():
            by_entry.setdefault(index, []).append(label)
        for index, labels in by_entry.items():
            evidence = [
                candidate(
                    label,
                    candidates[label][1],
                    [load_result(run_result_path(root, STAGE, run.run_id)) for run in grouped[label]],
                )
                for label in labels
            ]
            pick = choose(evidence)
            sweep = next(s for s in suite.sweeps if s.index == index)
            if pick is None:
                raise UserError(
                    f"{suite.spec.name}: selection: no candidate of adapters[{index}] ({sweep.label}) "
                    f"finished ok; see {root / STAGE / 'runs'}, fix the cause and rerun (finished "
                    "candidates are kept)"
                )
            chosen[index] = evidence[pick].values
            entries.append(
                EntryChoice(
                    index=index,
                    label=sweep.label,
                    fields=list(evidence[pick].values),
                    chosen=evidence[pick].values,
                    chosen_label=evidence[pick].label,
                    candidates=evidence,
                )
            )
    entries.sort(key=lambda entry: entry.index)
    record = SelectionRecord(
        suite=suite.spec.name,
        metric=select.metric,
        tasks=list(suite.spec.eval.roles()[select.metric]),
        split="validation (train-split items drawn with the validation seed)",
        items=select.items,
        seeds=list(select.seeds),
        max_steps=(select.budget or suite.spec.budget).max_steps,
        entries=entries,
    )
    write_text_atomic(record_path(results_root, suite.spec.name), record.model_dump_json(indent=2) + "\n")
    write_text_atomic(markdown_path(results_root, suite.spec.name), selection_markdown(record))
    return with_choice(suite, chosen)


def recorded_choice(suite: Suite, results_root: Path) -> dict[int, Point] | None:
    """The recorded choice of a ``select:`` suite, if there is one and it is current: the
    candidates it was made from are exactly the candidates the suite has now."""
    path = record_path(results_root, suite.spec.name)
    if suite.spec.select is None or not path.is_file():
        return None
    try:
        record = SelectionRecord.model_validate_json(path.read_text())
    except (ValidationError, OSError, UnicodeDecodeError):
        return None  # unreadable: select again
    recorded = {c.label: set(c.run_ids) for entry in record.entries for c in entry.candidates}
    chosen = record.chosen()
    current: dict[str, set[str]] = {}
    replay: dict[int, Point] = {}
    while (found := stage_round(suite, replay)) is not None:
        stage, candidates = found
        for label, runs in _by_candidate(stage.runs, candidates).items():
            current[label] = {run.run_id for run in runs}
        for index, _ in candidates.values():
            if index not in chosen:
                return None
            replay[index] = chosen[index]
    return chosen if current == recorded else None


def with_recorded_choice(suite: Suite, results_root: Path) -> Suite:
    """The suite with its comparison runs when its recorded choice is current; else as it is."""
    if not suite.awaits_selection:
        return suite
    chosen = recorded_choice(suite, results_root)
    return suite if chosen is None else with_choice(suite, chosen)


def selection_dry_run(suite: Suite, results_root: Path, force: bool = False) -> tuple[Suite, Path, str]:
    """For ``--dry-run``: the suite to plan and the results root it is filed under (the
    comparison when its recorded choice is current, else the selection stage's first round), and
    a line saying which."""
    resolved = suite if force else with_recorded_choice(suite, results_root)
    if not resolved.awaits_selection:
        return resolved, results_root, f"{suite.spec.name}: selection: chosen (selection.md); the comparison:"
    found = stage_round(suite, {})
    assert found is not None
    stage, candidates = found
    note = (
        f"{suite.spec.name}: selection stage first: {len(candidates)} candidate(s) on seeds "
        f"{list(stage.spec.seeds)}; entries that build on a chosen run follow in a later round, "
        "then the comparison at the chosen values. The first round:"
    )
    return stage, results_root / suite.spec.name, note
