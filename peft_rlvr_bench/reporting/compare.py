"""``prb compare``: the same methods side by side across suites, as one Markdown table.

Rows are method labels (the base row first, then in the order the suites' leaderboards rank
them, first suite first); each suite contributes a group of columns: in-domain, out-of-domain
and forgetting, with the 95% intervals their own leaderboards show (Student t over seeds, or seeds x
items where the runs stored per-item scores). A method a suite does not have reads
``-``; ★ marks a suite's best method exactly as its own leaderboard does.
"""

from __future__ import annotations

from collections.abc import Sequence

from peft_rlvr_bench.reporting.board import Leaderboard, Row
from peft_rlvr_bench.reporting.markdown import BEST_MARK
from peft_rlvr_bench.reporting.metrics import METRICS_BY_NAME, RANKING_METRIC, Metric, cell_text

COMPARED = ("in_domain", "out_of_domain", "forgetting")
"""The metrics each suite's column group shows."""


def _methods(boards: Sequence[Leaderboard]) -> list[str]:
    methods: list[str] = []
    for board in boards:
        methods += [row.method for row in board.rows if row.method not in methods]
    return sorted(methods, key=lambda method: method != "base")  # stable: base first, rest as ranked


def _cell(row: Row | None, metric: Metric) -> str:
    if row is None:
        return "-"
    cell = row[metric.name]
    text = cell_text(metric, cell.value, cell.ci_low, cell.ci_high)
    return f"{text} {BEST_MARK}" if row.best and metric.name == RANKING_METRIC else text


def _verdict_line(board: Leaderboard) -> str:
    verdict = board.verdict
    if verdict.best is not None:
        return f"- {board.suite}: {BEST_MARK} {verdict.best}"
    if len(verdict.comparisons) == 0:
        return f"- {board.suite}: fewer than two trained methods, nothing to separate"
    return f"- {board.suite}: no method separated from the rest ({verdict.top} has the highest mean)"


def render_comparison(boards: Sequence[Leaderboard]) -> str:
    """The Markdown comparison of the suites' leaderboards, in the order given."""
    metrics = [METRICS_BY_NAME[name] for name in COMPARED]
    by_suite = [{row.method: row for row in board.rows} for board in boards]
    headers = [f"{metric.header} ({board.suite})" for board in boards for metric in metrics]
    lines = [
        f"# Comparison: {', '.join(board.suite for board in boards)}",
        "",
        "Means over seeds with a 95% interval in brackets, per suite: Student t over seeds, or seeds x items "
        "variance components where every run stored per-item scores (each suite's leaderboard lists which "
        f"column has which); - where a suite has no such row. {BEST_MARK} marks a suite's best in-domain "
        "method (paired tests, Holm-corrected over every pair; its leaderboard says how). Seeds, costs, "
        "paired comparisons and prediction intervals are on each suite's leaderboard.",
        "",
        "| Method | " + " | ".join(headers) + " |",
        "|:--|" + "--:|" * len(headers),
    ]
    for method in _methods(boards):
        cells = [_cell(rows.get(method), metric) for rows in by_suite for metric in metrics]
        lines.append("| " + " | ".join([method.replace("|", "\\|"), *cells]) + " |")
    lines += ["", "Best method per suite:", ""]
    lines += [_verdict_line(board) for board in boards]
    lines += ["", "Columns:", ""]
    lines += [f"- {metric.legend}" for metric in metrics]
    return "\n".join(lines) + "\n"
