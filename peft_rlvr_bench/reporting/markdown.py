"""The leaderboard as GitHub Markdown and as CSV, both from the one metric declaration.

The Markdown shows scores in percent with their CIs; the CSV keeps the raw values (fractions,
``repr`` floats that round-trip exactly) with the CI bounds in their own columns, nan and
absent values as empty cells.
"""

from __future__ import annotations

import csv
import io
import math
from typing import TYPE_CHECKING

from peft_rlvr_bench.reporting.best import pairs_text
from peft_rlvr_bench.reporting.metrics import METRICS_BY_NAME, cell_text
from peft_rlvr_bench.reporting.stats import ALPHA, MIN_BOOTSTRAP_SEEDS

if TYPE_CHECKING:
    from peft_rlvr_bench.reporting.board import Comparison, Leaderboard, Row

BEST_MARK = "★"
COMPARISON_COLUMNS = (
    "vs_top_diff",
    "vs_top_ci_low",
    "vs_top_ci_high",
    "vs_top_p",
    "vs_top_p_holm",
    "vs_top_seeds",
    "vs_top_ci_kind",
)
"""CSV: the top method minus the row on the ranking metric over shared seeds (empty where not compared)."""

LEGEND = (
    'Means over seeds with a 95% confidence interval in brackets (which interval: see "Intervals" below '
    "the table); - where not measured. "
    f"{BEST_MARK} marks the best method on in-domain accuracy, only where the statistics separate it "
    "from every other trained method after Holm's correction (see under the table)."
)

KIND_TEXT = {
    "t over seeds": "Student t over seeds (seed noise on these eval items)",
    "seeds x items": "seeds x items variance components with Satterthwaite df (seed noise and which items "
    "the eval set drew)",
    "items": "over items (one deterministic model: which items the eval set drew)",
}


def interval_lines(board: Leaderboard) -> list[str]:
    """Which interval each column's brackets show, from the cells themselves."""
    by_kind: dict[str, list[str]] = {}
    for metric in board.columns:
        kinds = {row[metric.name].kind for row in board.rows if row[metric.name].kind is not None}
        for kind in sorted(kinds):
            rows = [r.method for r in board.rows if r[metric.name].kind == kind]
            label = metric.header if len(kinds) == 1 else f"{metric.header} ({', '.join(rows)})"
            by_kind.setdefault(kind, []).append(label)
    lines = [f"- {KIND_TEXT[kind]}: {', '.join(columns)}" for kind, columns in by_kind.items()]
    lines.append(
        "- The CSV adds each interval's kind and the 95% prediction interval of one new seed "
        "(`*_pi_low`, `*_pi_high`): a rerun on the same eval items should land inside it. "
        f"No percentile bootstrap is shown below {MIN_BOOTSTRAP_SEEDS} seeds (it under-covers; "
        "docs/statistics.md)."
    )
    return lines


def p_text(p: float) -> str:
    """A p-value with two significant digits; ``-`` when there is none."""
    return "-" if math.isnan(p) else f"{p:.2g}"


def method_text(row: Row) -> str:
    return f"{row.method} {BEST_MARK}" if row.best else row.method


def comparison_cells(board: Leaderboard, comparison: Comparison) -> list[str]:
    """Method, shared seeds, difference [CI], p, Holm p, separated: the paired-comparison table's cells."""
    metric = METRICS_BY_NAME[board.verdict.metric]
    paired = comparison.paired
    difference = cell_text(metric, paired.difference, paired.ci_low, paired.ci_high)
    if paired.n and paired.difference > 0:
        difference = "+" + difference
    return [
        comparison.method,
        str(paired.n),
        difference,
        p_text(paired.p_value),
        p_text(comparison.p_holm),
        "yes" if comparison.separated else "no",
    ]


def comparison_caption(board: Leaderboard) -> str:
    metric = METRICS_BY_NAME[board.verdict.metric]
    kinds = sorted({c.paired.kind for c in board.verdict.comparisons if c.paired.n >= 2})
    interval = " or ".join(KIND_TEXT[kind].split(" (")[0] for kind in kinds) or "none"
    return (
        f"Paired {metric.header.lower()} differences: {board.verdict.top} minus each trained method on the "
        f"seeds both have, with the 95% interval ({interval}) and its two-sided p, then p Holm-adjusted "
        f"over {pairs_text(board.verdict.family)} of trained methods (separated: Holm p < {ALPHA:g})."
    )


COMPARISON_HEADERS = ("Method", "Shared seeds", "Difference [95% CI]", "p", "p (Holm)", "Separated")


CONTROL_EXPECTATION = {
    "negative": "same configuration, disjoint seeds: must not separate",
    "positive": "known-worse configuration: must separate, worse",
}


def control_lines(board: Leaderboard) -> list[str]:
    """The controls table: each control arm against its reference, and whether the harness
    behaved as a control demands (``reporting/controls.py``)."""
    if not board.controls:
        return []
    metric = next(m for m in board.columns if m.name == board.verdict.metric)
    lines = [
        "",
        f"Controls ({metric.header.lower()}, reference minus control arm; one pre-declared test each, "
        "so p is not Holm-adjusted; the control arms are left out of the ★ comparison):",
        "",
        "| Control | Reference | Kind | Difference [95% CI] | p | Pairs | Outcome |",
        "|:--|:--|:--|--:|--:|--:|:--|",
    ]
    for control in board.controls:
        paired = control.paired
        outcome = "as expected" if control.as_expected else "**not as expected**"
        verdict = "separated" if control.separated else "not separated"
        difference = cell_text(metric, paired.difference, paired.ci_low, paired.ci_high)
        lines.append(
            f"| {_escape(control.arm)} | {_escape(control.against)} | {control.kind} "
            f"({CONTROL_EXPECTATION[control.kind]}) | "
            f"{difference} | {p_text(paired.p_value)} | "
            f"{paired.n} ({control.pairing}) | {verdict}: {outcome} |"
        )
    return lines


def aggregate_lines(board: Leaderboard) -> list[str]:
    """rliable's across-task aggregates as a small table, or the sentence saying why not."""
    if board.aggregate_note:
        return ["", board.aggregate_note]
    if not board.aggregates:
        return []
    lines = [
        "",
        "Across in-domain tasks (rliable: interquartile mean and mean over seeds x tasks, 95% stratified-"
        "bootstrap CIs):",
        "",
        "| Method | Seeds | Tasks | IQM [95% CI] | Mean [95% CI] |",
        "|:--|--:|--:|--:|--:|",
    ]
    metric = METRICS_BY_NAME["in_domain"]
    for item in board.aggregates:
        iqm = cell_text(metric, item.iqm, item.iqm_low, item.iqm_high)
        average = cell_text(metric, item.mean, item.mean_low, item.mean_high)
        lines.append(f"| {_escape(item.method)} | {item.runs} | {item.tasks} | {iqm} | {average} |")
    return lines


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(board: Leaderboard) -> str:
    """The leaderboard page: heading, legend, table, verdict, paired comparisons, column legend,
    left-out runs and the learning-curve plot."""
    columns = board.columns
    lines = [
        f"# Leaderboard: {board.suite}",
        "",
        LEGEND,
        "",
        "| Method | Seeds | " + " | ".join(metric.header for metric in columns) + " |",
        "|:--|--:|" + "--:|" * len(columns),
    ]
    for row in board.rows:
        cells = [_escape(method_text(row)), str(row.n_seeds)]
        cells += [cell_text(m, row[m.name].value, row[m.name].ci_low, row[m.name].ci_high) for m in columns]
        lines.append("| " + " | ".join(cells) + " |")
    verdict = board.verdict
    if verdict.note:
        lines += ["", verdict.note]
    if verdict.comparisons:
        lines += ["", comparison_caption(board), ""]
        lines += ["| " + " | ".join(COMPARISON_HEADERS) + " |", "|:--|--:|--:|--:|--:|:--|"]
        for comparison in verdict.comparisons:
            lines.append("| " + " | ".join(map(_escape, comparison_cells(board, comparison))) + " |")
    lines += control_lines(board)
    lines += aggregate_lines(board)
    lines += ["", "Intervals:", "", *interval_lines(board)]
    lines += ["", "Columns:", ""]
    lines += [f"- {metric.legend}" for metric in columns]
    if board.not_ok:
        lines += ["", "Runs left out of the table (status not ok):", ""]
        lines += [f"- `{run_id}`: {status} ({reason})" for run_id, status, reason in board.not_ok]
    if board.non_finite:
        lines += [
            "",
            "Runs that measured NaN or an infinity (their row shows NaN; rerun or inspect them):",
            "",
        ]
        lines += [f"- `{run_id}`: {names}" for run_id, names in board.non_finite]
    if board.stale:
        lines += [
            "",
            f"{len(board.stale)} result file(s) under `runs/` belong to an earlier version of the suite "
            f"and are left out: {', '.join(board.stale)}.",
        ]
    if board.other_environment:
        lines += [
            "",
            "Left out, made under another world or package versions than the base (rerun them):",
            "",
        ]
        lines += [f"- `{run_id}`: {found}" for run_id, found in board.other_environment]
    for name, caption in board.plots:
        lines += ["", f"![{caption}]({name})"]
    return "\n".join(lines) + "\n"


# CSV -----------------------------------------------------------------------------------------


def csv_columns(board: Leaderboard) -> tuple[str, ...]:
    """method, n_seeds, best, every shown metric's columns, then the comparison columns if any."""
    metric_columns = tuple(column for metric in board.columns for column in metric.columns)
    comparisons = COMPARISON_COLUMNS if board.verdict.comparisons else ()
    return ("method", "n_seeds", "best", *metric_columns, *comparisons)


def _csv_cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    # repr round-trips a float exactly, so the CSV loses nothing against the JSON files.
    return repr(value) if isinstance(value, float) else str(value)


def csv_values(board: Leaderboard, row: Row) -> dict[str, object]:
    """A row's raw CSV values by column (None for empty cells)."""
    values: dict[str, object] = {"method": row.method, "n_seeds": row.n_seeds, "best": row.best}
    for metric in board.columns:
        cell = row[metric.name]
        # A measured NaN is written out: an empty field would read as not measured.
        measured_nan = isinstance(cell.value, float) and math.isnan(cell.value)
        values[metric.name] = "NaN" if measured_nan else cell.value
        if metric.ci:
            values[f"{metric.name}_ci_low"] = cell.ci_low
            values[f"{metric.name}_ci_high"] = cell.ci_high
            values[f"{metric.name}_ci_kind"] = cell.kind
            values[f"{metric.name}_pi_low"] = cell.pi_low
            values[f"{metric.name}_pi_high"] = cell.pi_high
    compared = {c.method: c for c in board.verdict.comparisons}
    if row.method in compared:
        comparison = compared[row.method]
        paired = comparison.paired
        values.update(
            zip(
                COMPARISON_COLUMNS,
                (
                    paired.difference,
                    paired.ci_low,
                    paired.ci_high,
                    paired.p_value,
                    comparison.p_holm,
                    paired.n,
                    paired.kind,
                ),
                strict=True,
            )
        )
    return values


def render_csv(board: Leaderboard) -> str:
    """The rows as CSV with a :func:`csv_columns` header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = csv_columns(board)
    writer.writerow(columns)
    for row in board.rows:
        values = csv_values(board, row)
        writer.writerow([_csv_cell(values.get(column)) for column in columns])
    return buffer.getvalue()
