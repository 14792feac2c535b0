"""The leaderboard as one static HTML page: no server, no network, inline CSS and JavaScript.

Every column header sorts the table (a click toggles between the better-first order and the
reverse), numerically on the mean where the cell also shows a CI; rows without a value sort
last either way. Headers carry the metric's description as a tooltip. Opening the page as
``leaderboard.html#sort=<column>:<asc|desc>`` applies that sort on load, so a sorted view can be
linked to (and tested headlessly with ``chromium --dump-dom``).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from peft_rlvr_bench.reporting.markdown import (
    BEST_MARK,
    COMPARISON_HEADERS,
    LEGEND,
    comparison_caption,
    comparison_cells,
    interval_lines,
)
from peft_rlvr_bench.reporting.metrics import DIRECTION_ARROW, DIRECTION_TEXT, cell_text

if TYPE_CHECKING:
    from peft_rlvr_bench.reporting.board import Leaderboard, Row

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1400px;
  padding: 0 1em; color: #1b1f24; }
h1 { font-size: 1.5em; margin-bottom: .3em; }
h2 { font-size: 1.15em; margin-top: 1.8em; }
p.legend, p.verdict { max-width: 75em; }
p.verdict { background: #f3f6fa; border-left: 4px solid #4a78b0; padding: .6em .9em; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .3em .65em; border-bottom: 1px solid #e1e4e8; white-space: nowrap; }
th { background: #f6f8fa; position: sticky; top: 0; text-align: right; cursor: pointer; user-select: none; }
th:first-child, td:first-child { text-align: left; }
td { text-align: right; }
tbody tr:nth-child(even) { background: #fafbfc; }
tbody tr:hover { background: #eef4fb; }
tr.base td { color: #57606a; }
tr.derived td:first-child { padding-left: 1.6em; font-style: italic; }
tr.best td { font-weight: 600; }
.mark { color: #c68a00; }
th[aria-sort="ascending"]::after { content: " \\25B2"; font-size: .75em; }
th[aria-sort="descending"]::after { content: " \\25BC"; font-size: .75em; }
dl dt { font-weight: 600; margin-top: .5em; }
dl dd { margin-left: 1.5em; }
img { max-width: 100%; border: 1px solid #e1e4e8; }
"""

SCRIPT = """
(function () {
  "use strict";
  function key(cell, type) {
    var raw = cell.getAttribute("data-value");
    if (type === "number") {
      return raw === null || raw === "" ? null : parseFloat(raw);
    }
    return (raw === null ? cell.textContent : raw).toLowerCase();
  }
  function sortTable(table, column, order) {
    var headers = table.tHead.rows[0].cells, index = -1;
    for (var i = 0; i < headers.length; i++) {
      if (headers[i].getAttribute("data-key") === column) { index = i; }
      headers[i].removeAttribute("aria-sort");
    }
    if (index < 0) { return false; }
    var type = headers[index].getAttribute("data-type");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[index], type), y = key(b.cells[index], type);
      var tie = Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order"));
      if (x === null || y === null) { return x === y ? tie : (x === null ? 1 : -1); }
      var c = x < y ? -1 : (x > y ? 1 : 0);
      return (order === "desc" ? -c : c) || tie;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    headers[index].setAttribute("aria-sort", order === "desc" ? "descending" : "ascending");
    return true;
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.addEventListener("click", function () {
        var current = th.getAttribute("aria-sort");
        var order = current ? (current === "ascending" ? "desc" : "asc") : th.getAttribute("data-first");
        var column = th.getAttribute("data-key");
        sortTable(table, column, order);
        if (table.id === "leaderboard") {
          try { history.replaceState(null, "", "#sort=" + column + ":" + order); } catch (e) { /* file: */ }
        }
      });
    });
  });
  var wanted = /^#sort=([^:]+):(asc|desc)$/.exec(decodeURIComponent(window.location.hash));
  var board = document.getElementById("leaderboard");
  if (wanted && board) { sortTable(board, wanted[1], wanted[2]); }
})();
"""


def _header(key: str, text: str, kind: str, first: str, tooltip: str) -> str:
    return (
        f'<th data-key="{escape(key)}" data-type="{kind}" data-first="{first}" title="{escape(tooltip)}">'
        f"{escape(text)}</th>"
    )


def _cell(text: str, value: object) -> str:
    raw = "" if value is None else repr(value) if isinstance(value, float) else str(value)
    return f'<td data-value="{escape(raw)}">{escape(text)}</td>'


def _row_classes(row: Row) -> str:
    classes = [name for name, on in (("base", row.method == "base"), ("derived", row.derived)) if on]
    return " ".join([*classes, "best"] if row.best else classes)


def _leaderboard_table(board: Leaderboard) -> list[str]:
    headers = [
        _header(
            "method", "Method", "text", "asc", f"the suite entry's label; {BEST_MARK} marks the best method"
        ),
        _header(
            "n_seeds", "Seeds", "number", "desc", "ok seeds behind the row (runs left out are listed below)"
        ),
    ]
    for metric in board.columns:
        arrow = DIRECTION_ARROW[metric.direction]
        text = f"{metric.header} {arrow}" if arrow else metric.header
        first = "asc" if metric.direction == "lower" else "desc"
        headers.append(_header(metric.name, text, "number", first, metric.legend))
    lines = ['<table id="leaderboard" class="sortable">', "<thead><tr>" + "".join(headers) + "</tr></thead>"]
    lines.append("<tbody>")
    for order, row in enumerate(board.rows):
        method = escape(row.method) + (f' <span class="mark">{BEST_MARK}</span>' if row.best else "")
        cells = [f'<td data-value="{escape(row.method)}">{method}</td>', _cell(str(row.n_seeds), row.n_seeds)]
        for metric in board.columns:
            cell = row[metric.name]
            cells.append(_cell(cell_text(metric, cell.value, cell.ci_low, cell.ci_high), cell.value))
        classes = _row_classes(row)
        attributes = f' class="{classes}"' if classes else ""
        method_attr = escape(row.method)
        lines.append(
            f'<tr data-order="{order}" data-method="{method_attr}"{attributes}>' + "".join(cells) + "</tr>"
        )
    lines += ["</tbody>", "</table>"]
    return lines


def _comparison_table(board: Leaderboard) -> list[str]:
    kinds = ("text", "number", "number", "number", "number", "text")
    keys = ("method", "seeds", "difference", "p", "p_holm", "separated")
    firsts = ("asc", "desc", "asc", "asc", "asc", "asc")
    headers = "".join(
        _header(key, text, kind, first, text)
        for key, text, kind, first in zip(keys, COMPARISON_HEADERS, kinds, firsts, strict=True)
    )
    lines = [
        f"<p>{escape(comparison_caption(board))}</p>",
        '<table id="comparisons" class="sortable">',
        f"<thead><tr>{headers}</tr></thead>",
        "<tbody>",
    ]
    for order, comparison in enumerate(board.verdict.comparisons):
        texts = comparison_cells(board, comparison)
        paired = comparison.paired
        values = (comparison.method, paired.n, paired.difference, paired.p_value, comparison.p_holm, texts[5])
        cells = "".join(_cell(text, value) for text, value in zip(texts, values, strict=True))
        lines.append(f'<tr data-order="{order}">{cells}</tr>')
    lines += ["</tbody>", "</table>"]
    return lines


def render_html(board: Leaderboard) -> str:
    """The leaderboard as a self-contained HTML page (see the module docstring)."""
    title = f"Leaderboard: {board.suite}"
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="legend">{escape(LEGEND)} Click a column header to sort; hover it for its meaning.</p>',
        *_leaderboard_table(board),
    ]
    if board.verdict.note:
        lines.append(f'<p class="verdict">{escape(board.verdict.note)}</p>')
    if board.verdict.comparisons:
        lines += ["<h2>Paired comparisons</h2>", *_comparison_table(board)]
    if board.plots:
        lines.append("<h2>Plots</h2>")
        lines += [f'<img src="{escape(name)}" alt="{escape(caption)}">' for name, caption in board.plots]
    if board.not_ok:
        lines += ["<h2>Runs left out (status not ok)</h2>", '<ul id="not-ok">']
        lines += [
            f"<li><code>{escape(run_id)}</code>: {escape(status)} ({escape(reason)})</li>"
            for run_id, status, reason in board.not_ok
        ]
        lines.append("</ul>")
    if board.stale:
        lines.append(
            f"<p>{len(board.stale)} result file(s) under <code>runs/</code> belong to an earlier version of "
            f"the suite and are left out: {escape(', '.join(board.stale))}.</p>"
        )
    if board.other_environment:
        lines += ["<h2>Made under another world or package versions than the base (left out)</h2>", "<ul>"]
        lines += [
            f"<li><code>{escape(run_id)}</code>: {escape(found)}</li>"
            for run_id, found in board.other_environment
        ]
        lines.append("</ul>")
    lines += ["<h2>Intervals</h2>", '<ul id="intervals">']
    lines += [f"<li>{escape(line.removeprefix('- '))}</li>" for line in interval_lines(board)]
    lines += ["</ul>", "<h2>Columns</h2>", "<dl>"]
    for metric in board.columns:
        meaning = f"{metric.description} ({DIRECTION_TEXT[metric.direction]})"
        lines.append(f"<dt>{escape(metric.header)}</dt><dd>{escape(meaning)}</dd>")
    lines += ["</dl>", f"<script>{SCRIPT}</script>", "</body>", "</html>"]
    return "\n".join(lines) + "\n"
