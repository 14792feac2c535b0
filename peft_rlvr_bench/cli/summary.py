"""What ``prb run`` prints when it ends: a few columns of the leaderboard and the files written.

The full page (glossary, intervals, plots) is in the files; a terminal gets the figures a reader
scans first.
"""

from __future__ import annotations

import csv
import math

from peft_rlvr_bench.reporting.board import LeaderboardFiles

SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("method", "method"),
    ("n_seeds", "seeds"),
    ("in_domain", "in-domain"),
    ("out_of_domain", "out-of-domain"),
    ("forgetting", "forgetting"),
    ("trainable_params", "trainable"),
)
"""(CSV column, header) of the terminal table."""


def _cell(column: str, text: str) -> str:
    if column in ("method", "n_seeds") or text == "":
        return text or "-"
    value = float(text)
    if math.isnan(value):
        return "-"
    if column == "trainable_params":
        return f"{value:,.0f}"
    return f"{value:.3f}"


def render_run_summary(files: LeaderboardFiles) -> str:
    """The leaderboard's main columns as an aligned text table (best method starred), then the
    paths of the written files."""
    with files.csv.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    table = [[header for _, header in SUMMARY_COLUMNS]]
    for row in rows:
        cells = [_cell(column, row.get(column, "")) for column, _ in SUMMARY_COLUMNS]
        if row.get("best") == "True":
            cells[0] += " *"
        table.append(cells)
    widths = [max(len(line[i]) for line in table) for i in range(len(SUMMARY_COLUMNS))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(row.get("best") == "True" for row in rows):
        lines.append("* best on in-domain accuracy, separated from every other method")
    lines += ["", f"wrote {files.markdown}", f"      {files.csv}", f"      {files.html}"]
    return "\n".join(lines)
