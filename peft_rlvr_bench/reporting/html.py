"""The leaderboard as one static HTML page: no server, no network, inline CSS and JavaScript.

The table sits in a scroll container with a sticky header and method column. Every column header
sorts the table (a click toggles between the better-first order and the reverse), numerically on
the mean where the cell also shows a CI; rows without a value sort last either way. Headers carry
the metric's description as a tooltip; cells are shaded by value, darker where better (not for
diagnostic columns). Column groups (accuracy, cost, drift, geometry) are shown or hidden with one
switch each, a filter box keeps the rows whose method matches, a row expands into its per-task
scores, and each row links to its result files. A footer says which commit, versions, hardware
and dates the results come from. ``#sort=<column>:<asc|desc>``, ``#hide=<group>,...``,
``#expand=all`` and ``#filter=<text>`` (joined by ``&``) set the view on load, so a view can be
linked to (and tested headlessly with ``chromium --dump-dom``). ``docs/leaderboard.md`` is the
reader's guide.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from peft_rlvr_bench.reporting.html_assets import SCRIPT, STYLE
from peft_rlvr_bench.reporting.markdown import (
    BEST_MARK,
    COMPARISON_HEADERS,
    LEGEND,
    comparison_caption,
    comparison_cells,
    interval_lines,
)
from peft_rlvr_bench.reporting.metrics import DIRECTION_ARROW, DIRECTION_TEXT, GROUPS, cell_text, group_of

if TYPE_CHECKING:
    from peft_rlvr_bench.reporting.board import Leaderboard, Row
    from peft_rlvr_bench.reporting.metrics import Metric

ROLE_TEXT = {"in_domain": "in-domain", "out_of_domain": "out-of-domain", "forgetting": "forgetting"}


def _header(key: str, text: str, kind: str, first: str, tooltip: str, group: str | None = None) -> str:
    css = f' class="g-{group}"' if group else ""
    return (
        f'<th data-key="{escape(key)}" data-type="{kind}" data-first="{first}" '
        f'title="{escape(tooltip)}"{css}>{escape(text)}</th>'
    )


def _cell(text: str, value: object, css: str = "", style: str = "", title: str = "") -> str:
    raw = "" if value is None else repr(value) if isinstance(value, float) else str(value)
    extra = (f' class="{css}"' if css else "") + (f' style="{style}"' if style else "")
    extra += f' title="{escape(title)}"' if title else ""
    return f'<td data-value="{escape(raw)}"{extra}>{escape(text)}</td>'


def _shades(board: Leaderboard, metric: Metric) -> dict[str, str]:
    """Per row, a background whose strength grows with how good the value is in its column
    (``higher``: the largest is strongest; ``lower``: the smallest); none for diagnostics."""
    if metric.direction == "diagnostic":
        return {}
    values = {row.method: row.value(metric.name) for row in board.rows}
    present = [v for v in values.values() if v is not None]
    if len(present) < 2 or max(present) == min(present):
        return {}
    low, high = min(present), max(present)
    shades = {}
    for method, value in values.items():
        if value is not None:
            goodness = (value - low) / (high - low)
            goodness = 1 - goodness if metric.direction == "lower" else goodness
            shades[method] = f"background: rgba(46, 160, 67, {0.05 + 0.35 * goodness:.3f})"
    return shades


def _row_classes(row: Row) -> str:
    classes = [name for name, on in (("base", row.method == "base"), ("derived", row.derived)) if on]
    return " ".join([*classes, "best"] if row.best else classes)


def _method_cell(board: Leaderboard, row: Row) -> str:
    method = escape(row.method) + (f' <span class="mark">{BEST_MARK}</span>' if row.best else "")
    toggle = (
        f'<button class="expand" aria-expanded="false" title="per-task scores of {escape(row.method)}">'
        "\u25b8</button>"
        if board.tasks.get(row.method)
        else ""
    )
    files = board.links.get(row.method, ())
    links = "".join(
        f'<a href="{escape(path)}" title="{escape(path)}">{i}</a>' for i, path in enumerate(files, 1)
    )
    runs = f'<span class="runs">{"run" if len(files) == 1 else "runs"} {links}</span>' if files else ""
    return f'<td data-value="{escape(row.method)}">{toggle}{method}{runs}</td>'


def _task_rows(board: Leaderboard, row: Row) -> list[str]:
    lines = []
    for task in board.tasks.get(row.method, ()):
        cells = [
            f"<td>{escape(task.task)} ({ROLE_TEXT.get(task.role, task.role)})</td>",
            f"<td>{task.n_seeds}</td>",
        ]
        for metric in board.columns:
            text = cell_text(metric, task.value) if metric.name == task.role else ""
            cells.append(f'<td class="g-{group_of(metric)}">{escape(text)}</td>')
        lines.append(
            f'<tr class="task" data-parent="{escape(row.method)}" hidden>' + "".join(cells) + "</tr>"
        )
    return lines


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
        headers.append(_header(metric.name, text, "number", first, metric.legend, group_of(metric)))
    lines = [
        '<div class="scroll">',
        '<table id="leaderboard" class="sortable">',
        "<thead><tr>" + "".join(headers) + "</tr></thead>",
    ]
    lines.append("<tbody>")
    shades = {metric.name: _shades(board, metric) for metric in board.columns}
    for order, row in enumerate(board.rows):
        cells = [_method_cell(board, row), _cell(str(row.n_seeds), row.n_seeds)]
        for metric in board.columns:
            cell = row[metric.name]
            busy = board.contended.get(row.method, "") if metric.name == "train_seconds" else ""
            css = " ".join(c for c in (f"g-{group_of(metric)}", "contended" if busy else "") if c)
            text = cell_text(metric, cell.value, cell.ci_low, cell.ci_high)
            style = shades[metric.name].get(row.method, "")
            cells.append(_cell(text, cell.value, css, style, busy))
        classes = _row_classes(row)
        attributes = f' class="{classes}"' if classes else ""
        method_attr = escape(row.method)
        lines.append(
            f'<tr data-order="{order}" data-method="{method_attr}"{attributes}>' + "".join(cells) + "</tr>"
        )
        lines += _task_rows(board, row)
    lines += ["</tbody>", "</table>", "</div>"]
    return lines


def _controls(board: Leaderboard) -> list[str]:
    """The filter box, the column-group switches and the expand-all button."""
    present = sorted({group_of(metric) for metric in board.columns}, key=[*GROUPS, "other"].index)
    boxes = "".join(
        f'<label><input type="checkbox" data-group="{group}" checked> {group}</label>' for group in present
    )
    return [
        '<div class="controls">',
        '<input id="filter" type="search" placeholder="filter methods" aria-label="filter methods">',
        f'<span id="groups">Columns: {boxes}</span>',
        '<button id="expand-all" aria-pressed="false">per-task rows</button>',
        "</div>",
    ]


def _group_css(board: Leaderboard) -> str:
    groups = sorted({group_of(metric) for metric in board.columns})
    return "".join(f".hide-{group} .g-{group} {{ display: none; }}\n" for group in groups)


def _footer(board: Leaderboard) -> list[str]:
    lines = ['<footer id="provenance">', "<dl>"]
    if board.suite_file:
        lines.append(
            f'<dt>suite</dt><dd><a href="{escape(board.suite_file)}">{escape(board.suite_file)}</a></dd>'
        )
    lines += [f"<dt>{escape(label)}</dt><dd>{escape(text)}</dd>" for label, text in board.provenance]
    lines += ["</dl>", "</footer>"]
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
        f"<style>{STYLE}{_group_css(board)}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="legend">{escape(LEGEND)} Click a column header to sort; hover it for its meaning; '
        "shading is darker where a value is better; the triangle opens a row's per-task scores.</p>",
        *_controls(board),
        *_leaderboard_table(board),
    ]
    if board.contended:
        lines += ['<p id="contended">Wall times (underlined dotted) not from an idle machine:</p>', "<ul>"]
        lines += [
            f"<li>{escape(method)}: {escape(why)}</li>" for method, why in sorted(board.contended.items())
        ]
        lines.append("</ul>")
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
    lines += ["</dl>", *_footer(board), f"<script>{SCRIPT}</script>", "</body>", "</html>"]
    return "\n".join(lines) + "\n"
