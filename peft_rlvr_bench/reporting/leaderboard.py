"""The leaderboard: a pure function of a suite's result files, written as Markdown, CSV and HTML.

Only ``ok`` runs reach the table; every other run is listed under it with its reason, so a
failure is visible without polluting the means. What each column reads, which way is better and
how it is printed is declared once in :mod:`peft_rlvr_bench.reporting.metrics`; the renderers
live in :mod:`~peft_rlvr_bench.reporting.markdown` (Markdown, CSV) and
:mod:`~peft_rlvr_bench.reporting.html`.

The best-method mark (★) and the note on how many seeds a tie would need come from
:mod:`~peft_rlvr_bench.reporting.best`.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from peft_rlvr_bench.environment import differences
from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.atomic import sweep_temporaries, write_text_atomic
from peft_rlvr_bench.reporting.best import verdict
from peft_rlvr_bench.reporting.board import (
    CSV_NAME,
    EMPTY,
    HTML_NAME,
    MARKDOWN_NAME,
    Cell,
    Leaderboard,
    LeaderboardFiles,
    Row,
)
from peft_rlvr_bench.reporting.controls import evaluate_controls
from peft_rlvr_bench.reporting.details import contended_timings, provenance, run_links, task_breakdown
from peft_rlvr_bench.reporting.html import render_html
from peft_rlvr_bench.reporting.markdown import render_csv, render_markdown
from peft_rlvr_bench.reporting.metrics import METRICS, METRICS_BY_NAME, RANKING_METRIC, Metric, is_non_finite
from peft_rlvr_bench.reporting.plots import PLOTS, write_plots
from peft_rlvr_bench.reporting.results import RunResult, read_result
from peft_rlvr_bench.reporting.stats import (
    MIN_BOOTSTRAP_SEEDS,
    Aggregate,
    Interval,
    aggregates,
    bootstrap_valid,
    crossed_interval,
    fixed_minus_runs,
    interval_around,
    item_tables,
    items_interval,
    mean,
    prediction_interval,
    t_interval,
)

# Loading -------------------------------------------------------------------------------------


def _load_one(path: Path) -> RunResult:
    return read_result(path)


def load_suite_results(suite_dir: Path) -> tuple[RunResult | None, list[RunResult]]:
    """Loads ``suite_dir/base.json`` (None if absent) and every ``suite_dir/runs/*.json``.

    Runs come back sorted by file name so that everything downstream is order-independent.
    Raises UserError naming the first file that does not parse.
    """
    base_path = suite_dir / "base.json"
    base = _load_one(base_path) if base_path.is_file() else None
    runs_dir = suite_dir / "runs"
    paths = sorted(runs_dir.glob("*.json")) if runs_dir.is_dir() else []
    return base, [_load_one(path) for path in paths]


# Tabulation (pure) ---------------------------------------------------------------------------


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value


ITEM_TOLERANCE = 1e-6
"""Per-item scores must average to the stored score within this, or they are not the numbers the
table shows and the interval falls back to the seed-level t."""


def _item_interval(
    metric: Metric, used: Sequence[RunResult], base: RunResult | None, centre: float
) -> Interval | None:
    """The seeds x items interval of the metric over ``used`` runs, when their item scores line up."""
    if metric.items is None or len(used) < 2:
        return None
    per_run = [metric.items(run) for run in used]
    if metric.versus_base:
        tables = fixed_minus_runs(metric.items(base) if base is not None else None, per_run)
    else:
        tables = item_tables(per_run)
    if tables is None:
        return None
    crossed = crossed_interval([tables[task] for task in sorted(tables)])
    if abs(crossed.estimate - centre) > ITEM_TOLERANCE:
        return None
    return interval_around(centre, crossed.se, crossed.df, crossed.kind, crossed.n)


def summarise(metric: Metric, runs: Sequence[RunResult], base: RunResult | None) -> Cell:
    """One metric over a method's ok runs (in seed order), as the metric's ``aggregate`` says.

    A ``ci`` metric gets the Student-t interval over seeds, or the seeds x items interval when every
    run stored per-item scores on the same items (:mod:`peft_rlvr_bench.reporting.stats`), and
    the prediction interval of a new seed.
    """
    base_value = metric.read(base) if metric.versus_base and base is not None else None
    if any(is_non_finite(metric, run) for run in runs):
        # A mean over a NaN is NaN: the cell says so rather than average the finite seeds.
        return Cell(math.nan, n=len(runs))
    values: list[float] = []
    used: list[RunResult] = []
    for run in runs:
        value = metric.read(run)
        if value is None:
            continue
        if metric.versus_base:
            if base_value is None:
                continue
            value = base_value - value
        values.append(value)
        used.append(run)
    if not values:
        return EMPTY
    if metric.aggregate == "max":
        return Cell(max(values), n=len(values))
    if metric.aggregate == "shared":
        # One label should pin one value (a learning rate); if its seeds disagree, any single
        # number would lie.
        shared = len(values) == len(runs) and len(set(values)) == 1
        return Cell(values[0], n=len(values)) if shared else EMPTY
    centre = mean(values)
    if not metric.ci or len(values) < 2:
        return Cell(centre, n=len(values))
    interval = _item_interval(metric, used, base, centre) or t_interval(values)
    pi_low, pi_high = prediction_interval(values)
    return Cell(
        centre,
        _none_if_nan(interval.low),
        _none_if_nan(interval.high),
        n=len(values),
        kind=interval.kind,
        pi_low=_none_if_nan(pi_low),
        pi_high=_none_if_nan(pi_high),
    )


def _base_cell(metric: Metric, base: RunResult) -> Cell:
    value = metric.read(base) if metric.on_base else None
    if metric.on_base and is_non_finite(metric, base):
        return Cell(math.nan, n=1)
    if value is None:
        return EMPTY
    if metric.versus_base:
        return Cell(0.0, n=1)
    items = metric.items(base) if metric.ci and metric.items is not None else None
    tables = item_tables([items]) if items is not None else None
    if tables is not None:
        # A deterministic model evaluated once: the only noise is which items the eval set drew.
        interval = items_interval([tables[task][0] for task in sorted(tables)])
        if abs(interval.estimate - value) <= ITEM_TOLERANCE:
            return Cell(value, _none_if_nan(interval.low), _none_if_nan(interval.high), n=1, kind="items")
    return Cell(value, n=1)


def _seed_order(run: RunResult) -> tuple[bool, int, str]:
    return (run.seed is None, run.seed or 0, run.run_id)


def _method_row(
    method: str, ok: list[RunResult], n_not_ok: int, base: RunResult | None, metrics: Sequence[Metric]
) -> Row:
    return Row(
        method=method,
        n_seeds=len(ok),
        cells={metric.name: summarise(metric, ok, base) for metric in metrics},
        not_ok=n_not_ok,
        derived=any(run.extrapolation is not None for run in ok),
    )


def _ok_by_method(runs: Iterable[RunResult]) -> tuple[dict[str, list[RunResult]], dict[str, int]]:
    ok_by_method: dict[str, list[RunResult]] = defaultdict(list)
    not_ok_by_method: dict[str, int] = defaultdict(int)
    for run in runs:
        if run.status == "ok":
            ok_by_method[run.method].append(run)
        else:
            not_ok_by_method[run.method] += 1
    # Seed order, so that nothing downstream depends on how the files were listed.
    return {m: sorted(ok, key=_seed_order) for m, ok in ok_by_method.items()}, not_ok_by_method


def _method_rows(base: RunResult | None, runs: Sequence[RunResult], metrics: Sequence[Metric]) -> list[Row]:
    ok_by_method, not_ok_by_method = _ok_by_method(runs)
    rows = [_method_row(m, ok, not_ok_by_method[m], base, metrics) for m, ok in ok_by_method.items()]
    # An extrapolated run's row sits right under the row of the run it was predicted from.
    source_of = {run.method: run.extrapolation["source_method"] for run in runs if run.extrapolation}
    score = {row.method: row.value(RANKING_METRIC) for row in rows}

    def order(row: Row) -> tuple[bool, float, str, bool, str]:
        source = source_of.get(row.method, row.method)
        value = score.get(source, row.value(RANKING_METRIC))
        return (value is None, -(value or 0.0), source, row.method in source_of, row.method)

    return sorted(rows, key=order)


AGGREGATE_ROLE = "in_domain"
"""The role whose tasks rliable aggregates across."""


def _task_matrix(runs: Sequence[RunResult]) -> np.ndarray | None:
    """``(seeds, tasks)`` accuracies of the runs on the aggregate role's tasks (None if they differ)."""
    tasks = [sorted(run.metrics[AGGREGATE_ROLE].tasks) for run in runs if AGGREGATE_ROLE in run.metrics]
    if not tasks or len(tasks) != len(runs) or any(names != tasks[0] for names in tasks):
        return None
    return np.array([[run.metrics[AGGREGATE_ROLE].tasks[t].accuracy for t in tasks[0]] for run in runs])


def across_tasks(
    rows: Sequence[Row], ok_by_method: Mapping[str, Sequence[RunResult]]
) -> tuple[tuple[Aggregate, ...], str]:
    """rliable's aggregates of the trained methods, or why they are not shown."""
    trained = [row.method for row in rows if not row.derived and row.method in ok_by_method]
    matrices = {method: _task_matrix(ok_by_method[method]) for method in trained}
    scores = {method: matrix for method, matrix in matrices.items() if matrix is not None}
    if len(scores) < 2:
        return (), ""
    if not bootstrap_valid(scores):
        fewest = min(matrix.shape[0] for matrix in scores.values())
        return (), (
            f"rliable's across-task aggregates (IQM, stratified-bootstrap CIs) are shown from "
            f"{MIN_BOOTSTRAP_SEEDS} seeds per method; the fewest here is {fewest}, where a percentile "
            "bootstrap under-covers (docs/statistics.md)."
        )
    return tuple(aggregates(scores)), ""


def build_leaderboard(
    suite: str,
    base: RunResult | None,
    runs: Sequence[RunResult],
    *,
    metrics: Sequence[Metric] = METRICS,
    stale: Sequence[str] = (),
    other_environment: Sequence[tuple[str, str]] = (),
    plots: tuple[tuple[str, str], ...] = (),
) -> Leaderboard:
    """The whole leaderboard of ``runs`` (and ``base``), as a pure function of the results.

    Rows: the base row first (if there is an ok base), then one row per method with an ok run,
    best mean in-domain first, each extrapolation right under its source. Forgetting is base
    minus tuned on the forgetting role, per seed (positive means forgotten); without a base it is
    absent. Methods whose every run failed get no row; their runs are in ``not_ok``.
    """
    if base is not None and base.status != "ok":
        listed_base: RunResult | None = base
        base = None
    else:
        listed_base = base
    ranking = METRICS_BY_NAME[RANKING_METRIC]
    rows = _method_rows(base, runs, metrics)
    ok_by_method = _ok_by_method(runs)[0]
    controls = evaluate_controls(ok_by_method, ranking)
    decided = verdict(rows, ok_by_method, ranking, controls={c.arm for c in controls})
    summary, summary_note = across_tasks(rows, ok_by_method)
    rows = [replace(row, best=row.method == decided.best) for row in rows]
    if base is not None:
        rows.insert(0, Row("base", n_seeds=1, cells={m.name: _base_cell(m, base) for m in metrics}))
    columns = tuple(
        m for m in metrics if not m.optional or any(row.value(m.name) is not None for row in rows)
    )
    return Leaderboard(
        suite=suite,
        rows=tuple(rows),
        columns=columns,
        verdict=decided,
        not_ok=tuple(not_ok_runs([listed_base, *runs])),
        non_finite=tuple(non_finite_runs([base, *runs], metrics)),
        stale=tuple(sorted(stale)),
        other_environment=tuple(sorted(other_environment)),
        plots=plots,
        aggregates=summary,
        aggregate_note=summary_note,
        controls=controls,
        tasks=task_breakdown(base, runs),
        links=run_links(base, runs),
        contended=contended_timings(runs),
        provenance=provenance(listed_base, runs),
    )


def leaderboard_rows(base: RunResult | None, runs: Sequence[RunResult]) -> list[Row]:
    """The rows of :func:`build_leaderboard`, for callers that need nothing else."""
    return list(build_leaderboard("", base, runs).rows)


def non_finite_runs(runs: Iterable[RunResult | None], metrics: Sequence[Metric]) -> list[tuple[str, str]]:
    """``(run_id, metric names)`` of every ok run that stored NaN or an infinity for a metric."""
    found = []
    for run in runs:
        if run is None or run.status != "ok":
            continue
        names = [metric.name for metric in metrics if is_non_finite(metric, run)]
        if names:
            found.append((run.run_id, ", ".join(names)))
    return sorted(found)


def not_ok_runs(runs: Iterable[RunResult | None]) -> list[tuple[str, str, str]]:
    """Returns ``(run_id, status, reason)`` for every run whose status is not ``ok``, by run id."""
    listed = [
        (run.run_id, run.status, " ".join((run.reason or "no reason recorded").split()))
        for run in runs
        if run is not None and run.status != "ok"
    ]
    return sorted(listed)


# Files ---------------------------------------------------------------------------------------


def load_leaderboard(
    suite_dir: Path, suite: str, current_run_ids: Collection[str] | None = None
) -> tuple[Leaderboard, list[RunResult]]:
    """Reads a suite's result files into its leaderboard (and the runs it was built from).

    With ``current_run_ids``, result files of runs the suite no longer contains (an edited
    suite changes run ids) are left out of the table and listed as stale. So are results made
    under another world or package versions than the base evaluation: one table never mixes
    environments (a different CPU alone does not count). An existing plot is referenced;
    nothing is written.

    Raises UserError when the suite has no result files or one of them does not parse.
    """
    base, runs = load_suite_results(suite_dir)
    if base is None and not runs:
        raise UserError(f"no results under {suite_dir}; run `prb run suites/{suite}.yaml` first")
    stale = [] if current_run_ids is None else [r.run_id for r in runs if r.run_id not in current_run_ids]
    runs = [r for r in runs if r.run_id not in stale]
    other = {} if base is None else {r.run_id: "; ".join(differences(r, base)) for r in runs}
    other = {run_id: found for run_id, found in other.items() if found}
    runs = [r for r in runs if r.run_id not in other]
    plots = tuple((name, caption) for name, caption in PLOTS if (suite_dir / name).is_file())
    board = build_leaderboard(
        suite, base, runs, stale=stale, other_environment=list(other.items()), plots=plots
    )
    return board, runs


def write_leaderboard(
    suite_dir: Path,
    suite: str,
    current_run_ids: Collection[str] | None = None,
    suite_file: Path | None = None,
) -> LeaderboardFiles:
    """Writes ``leaderboard.{md,csv,html}`` (and the learning-curve plot) into ``suite_dir``; the
    page links ``suite_file`` (the suite's YAML) when given.

    See :func:`load_leaderboard` for ``current_run_ids`` and the errors.
    """
    board, runs = load_leaderboard(suite_dir, suite, current_run_ids)
    sweep_temporaries(suite_dir)  # what a writer killed in an earlier run left
    written = write_plots(suite, board, runs, suite_dir)
    link = None if suite_file is None else Path(os.path.relpath(suite_file.resolve(), suite_dir.resolve()))
    board = replace(
        board,
        plots=tuple((name, caption) for name, caption in PLOTS if name in written),
        suite_file=None if link is None else link.as_posix(),
    )
    files = LeaderboardFiles(suite_dir / MARKDOWN_NAME, suite_dir / CSV_NAME, suite_dir / HTML_NAME)
    write_text_atomic(files.markdown, render_markdown(board))
    write_text_atomic(files.csv, render_csv(board))
    write_text_atomic(files.html, render_html(board))
    return files
