"""Generated blocks in README.md and the docs pages, rebuilt from the committed results.

A block is everything between two HTML comments, each on a line of its own (Markdown does not
render them)::

    <!-- tiny-table:start -->
    (generated; edits here are overwritten)
    <!-- tiny-table:end -->

What a block holds depends on its name:

- ``NAME-table``, NAME a suite: that suite's leaderboard (``results/NAME/``) cut to a few columns,
  read through :func:`~peft_rlvr_bench.reporting.leaderboard.load_leaderboard` exactly as
  ``prb leaderboard`` reads it (results of runs the suite no longer contains are left out), with
  the leaderboard's own cell text and best-method mark. ``columns=a,b`` in the start marker picks
  the metrics by name (``reporting/metrics.py``); the default is :data:`DEFAULT_COLUMNS`.
- ``columns-table``: every leaderboard column as ``reporting/metrics.py`` declares it.
- ``suites-table``: every shipped suite (``suites/*.yaml``) with how many of its runs have
  results under ``results/``.

``make readme`` rewrites README.md and docs/leaderboard.md; ``python -m
peft_rlvr_bench.reporting.readme --check FILE...`` exits 1 when a file is not what it would write
(``tests/repo/test_docs.py`` holds the committed files to that).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.leaderboard import MARKDOWN_NAME, Leaderboard, load_leaderboard
from peft_rlvr_bench.reporting.markdown import BEST_MARK, KIND_TEXT, method_text, p_text
from peft_rlvr_bench.reporting.metrics import DIRECTION_TEXT, METRICS, METRICS_BY_NAME, cell_text
from peft_rlvr_bench.reporting.results import RunResult

DEFAULT_COLUMNS = ("in_domain", "out_of_domain", "forgetting", "trainable_params")
"""What a suite's block shows after the method: the question's three scores and the cost."""
COLUMNS_BLOCK = "columns"
SUITES_BLOCK = "suites"
"""Reserved block names; any other name is a suite's."""

_MARKER = re.compile(
    r"^[ \t]*<!--\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)-table:(?P<edge>start|end)"
    r"(?P<options>[^>\n]*?)-->[ \t]*$",
    re.MULTILINE,
)
"""A marker is a line of its own, so a page can mention one in running text or code."""


@dataclass(frozen=True)
class Block:
    """One generated block of a page: its name, start-marker options and where its body lies."""

    name: str
    options: dict[str, str]
    body_start: int
    """Index just after the start marker."""
    body_end: int
    """Index of the end marker."""


@dataclass(frozen=True)
class SuiteStatus:
    """How far a suite's committed results go: one row of the ``suites-table`` block."""

    suite: str
    model: str
    planned: int
    """Runs the suite expands to, derived runs included."""
    ok: int
    """Of those, runs with an ``ok`` result tabulated by the leaderboard."""
    not_ok: int
    """Results that failed or diverged."""
    left_out: int
    """Result files of runs the suite no longer contains, or made under another environment."""
    has_leaderboard: bool


# Parsing and rewriting (pure) ----------------------------------------------------------------


def find_blocks(text: str, where: str = "the page") -> list[Block]:
    """Every block of ``text`` in order; raises UserError on a marker without its partner."""
    blocks: list[Block] = []
    open_match: re.Match[str] | None = None
    for match in _MARKER.finditer(text):
        name, edge = match["name"], match["edge"]
        if edge == "start":
            if open_match is not None:
                raise UserError(
                    f"{where}: <!-- {open_match['name']}-table:start --> has no end marker before "
                    f"<!-- {name}-table:start -->; add <!-- {open_match['name']}-table:end -->"
                )
            open_match = match
            continue
        if open_match is None or open_match["name"] != name:
            raise UserError(
                f"{where}: <!-- {name}-table:end --> has no start marker; add <!-- {name}-table:start --> "
                "before it or delete it"
            )
        blocks.append(Block(name, _options(open_match, where), open_match.end(), match.start()))
        open_match = None
    if open_match is not None:
        name = open_match["name"]
        raise UserError(
            f"{where}: <!-- {name}-table:start --> has no end marker; add <!-- {name}-table:end -->"
        )
    return blocks


def _options(match: re.Match[str], where: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for token in match["options"].split():
        key, sep, value = token.partition("=")
        if not sep or key != "columns" or match["name"] in (COLUMNS_BLOCK, SUITES_BLOCK):
            raise UserError(
                f"{where}: <!-- {match['name']}-table:start{match['options']}-->: unknown option {token!r}; "
                "a suite's block takes columns=NAME,NAME (metric names of reporting/metrics.py), others none"
            )
        options[key] = value
    return options


def rewrite(text: str, render: Callable[[Block], str], where: str = "the page") -> str:
    """``text`` with every block's body replaced by ``render(block)`` between blank lines."""
    pieces, last = [], 0
    for block in find_blocks(text, where):
        pieces += [text[last : block.body_start], "\n\n", render(block).strip("\n"), "\n\n"]
        last = block.body_end
    return "".join([*pieces, text[last:]])


# Rendering (pure) ----------------------------------------------------------------------------


def leaderboard_block(board: Leaderboard, columns: Sequence[str], link: str) -> str:
    """A suite's leaderboard in ``columns`` (metric names), with a caption saying what the brackets
    are, whether a method is marked best, what was left out, and ``link`` to the whole page."""
    metrics = [METRICS_BY_NAME[name] for name in columns]
    lines = [
        "| Method | " + " | ".join(metric.header for metric in metrics) + " |",
        "|:--|" + "--:|" * len(metrics),
    ]
    for row in board.rows:
        cells = [cell_text(m, row[m.name].value, row[m.name].ci_low, row[m.name].ci_high) for m in metrics]
        lines.append("| " + " | ".join([_escape(method_text(row)), *cells]) + " |")
    return "\n".join([*lines, "", _caption(board, columns, link)])


def _caption(board: Leaderboard, columns: Sequence[str], link: str) -> str:
    sentences = []
    seeds = sorted({row.n_seeds for row in board.rows if row.method != "base"})
    if seeds:
        count = str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
        sentences.append(f"Means over {count} seed{'s' if seeds[-1] > 1 else ''} per method")
    kinds = sorted({row[name].kind for row in board.rows for name in columns if row[name].kind is not None})
    if kinds:
        sentences.append("Brackets: 95% intervals, " + "; ".join(KIND_TEXT[kind] for kind in kinds))
    verdict = board.verdict
    if verdict.best is not None:
        sentences.append(
            f"{BEST_MARK} {verdict.best} is separated from every other trained method on in-domain "
            "accuracy after Holm's correction"
        )
    elif verdict.comparisons:
        sentences.append(
            f"No method is separated from every other on in-domain accuracy after Holm's correction "
            f"({verdict.top} has the highest mean), so none is marked {BEST_MARK}"
        )
    for control in board.controls:
        outcome = "as expected" if control.as_expected else "NOT as expected"
        found = "separated" if control.separated else "not separated"
        sentences.append(
            f"{control.kind.capitalize()} control {control.arm} against {control.against}: "
            f"{found} (p = {p_text(control.paired.p_value)}), {outcome}"
        )
    left_out = len(board.not_ok) + len(board.stale) + len(board.other_environment)
    if left_out:
        sentences.append(f"{left_out} result file(s) are left out (failed, diverged or stale; listed there)")
    sentences.append(f"Every column, the paired comparisons and the plots: [{link}]({link})")
    return ". ".join(sentences) + "."


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def columns_block() -> str:
    """Every declared leaderboard column: header, CSV name, direction, interval, when shown, meaning."""
    lines = [
        "| Column | CSV | Direction | Interval | Shown | Meaning |",
        "|:--|:--|:--|:--|:--|:--|",
    ]
    for metric in METRICS:
        shown = "when some row has it" if metric.optional else "always"
        if not metric.on_base:
            shown += ", not on the base row"
        cells = [
            metric.header,
            f"`{metric.name}`",
            DIRECTION_TEXT[metric.direction],
            "95%" if metric.ci else "-",
            shown,
            _escape(metric.description),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def suites_block(statuses: Sequence[SuiteStatus], link_of: Callable[[str], str]) -> str:
    """One row per suite: its model, how many of its runs have ok results, and its leaderboard."""
    lines = ["| Suite | Model | Runs with results | Left out | Leaderboard |", "|:--|:--|--:|:--|:--|"]
    for status in statuses:
        left = []
        if status.not_ok:
            left.append(f"{status.not_ok} failed or diverged")
        if status.left_out:
            left.append(f"{status.left_out} stale")
        board = f"[{status.suite}]({link_of(status.suite)})" if status.has_leaderboard else "none yet"
        lines.append(
            f"| `{status.suite}` | {status.model} | {status.ok} of {status.planned} | "
            f"{', '.join(left) or '-'} | {board} |"
        )
    return "\n".join(lines)


# Reading the results ---------------------------------------------------------------------------


def current_run_ids(suite_file: Path, results_dir: Path) -> set[str]:
    """The run ids (derived runs included) that ``suite_file`` expands to today; a ``select:``
    suite's comparison runs are those of its recorded choice (none before one is made)."""
    from peft_rlvr_bench.runner.selection import with_recorded_choice
    from peft_rlvr_bench.suite import load_suite  # the YAML and the registry: only when asked

    loaded = with_recorded_choice(load_suite(suite_file), results_dir)
    return {run.run_id for run in loaded.runs} | {run.run_id for run in loaded.derived}


def suite_board(name: str, results_dir: Path, suites_dir: Path) -> tuple[Leaderboard, list[RunResult]]:
    """A suite's leaderboard as ``prb leaderboard`` builds it: stale results left out when the
    suite's YAML is at hand."""
    suite_file = suites_dir / f"{name}.yaml"
    current = current_run_ids(suite_file, results_dir) if suite_file.is_file() else None
    return load_leaderboard(results_dir / name, name, current)


def suite_statuses(results_dir: Path, suites_dir: Path) -> list[SuiteStatus]:
    """Every suite of ``suites_dir``, in name order, with what ``results_dir`` holds for it."""
    from peft_rlvr_bench.runner.selection import with_recorded_choice
    from peft_rlvr_bench.suite import load_suite

    statuses = []
    for suite_file in sorted(suites_dir.glob("*.yaml"), key=lambda path: path.stem):
        loaded = with_recorded_choice(load_suite(suite_file), results_dir)
        name = loaded.spec.name
        planned = {run.run_id for run in loaded.runs} | {run.run_id for run in loaded.derived}
        ok = not_ok = left_out = 0
        if any((results_dir / name / "runs").glob("*.json")) or (results_dir / name / "base.json").is_file():
            board, runs = load_leaderboard(results_dir / name, name, planned)
            ok = sum(run.status == "ok" for run in runs)
            not_ok = sum(run.status != "ok" for run in runs)
            left_out = len(board.stale) + len(board.other_environment)
        has_board = (results_dir / name / MARKDOWN_NAME).is_file()
        statuses.append(
            SuiteStatus(name, loaded.spec.model.name, len(planned), ok, not_ok, left_out, has_board)
        )
    return statuses


def render_page(text: str, page: Path, results_dir: Path, suites_dir: Path) -> str:
    """``text`` (the content of ``page``) with every block regenerated from ``results_dir``."""

    def link(path: Path) -> str:
        return Path(os.path.relpath(path, page.resolve().parent)).as_posix()

    def render(block: Block) -> str:
        if block.name == COLUMNS_BLOCK:
            return columns_block()
        if block.name == SUITES_BLOCK:
            statuses = suite_statuses(results_dir, suites_dir)
            return suites_block(statuses, lambda suite: link(results_dir.resolve() / suite / MARKDOWN_NAME))
        columns = block.options.get("columns", ",".join(DEFAULT_COLUMNS)).split(",")
        unknown = [name for name in columns if name not in METRICS_BY_NAME]
        if unknown:
            raise UserError(
                f"{page}: <!-- {block.name}-table:start -->: unknown column(s) {', '.join(unknown)}; "
                f"known: {', '.join(METRICS_BY_NAME)}"
            )
        board, _ = suite_board(block.name, results_dir, suites_dir)
        return leaderboard_block(board, columns, link(results_dir.resolve() / block.name / MARKDOWN_NAME))

    return rewrite(text, render, str(page))


def update_pages(
    pages: Sequence[Path], results_dir: Path, suites_dir: Path, *, check: bool = False
) -> list[Path]:
    """Regenerates every block of ``pages``; returns the pages that changed (with ``check``: that
    would change, leaving them as they are)."""
    changed = []
    for page in pages:
        try:
            text = page.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(
                f"{page}: cannot read it ({exc.strerror}); give an existing Markdown file"
            ) from exc
        new = render_page(text, page, results_dir, suites_dir)
        if new != text:
            changed.append(page)
            if not check:
                page.write_text(new, encoding="utf-8")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m peft_rlvr_bench.reporting.readme [--check] PAGE...``: exit 0, or 1 when
    ``--check`` finds a page out of date, or 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m peft_rlvr_bench.reporting.readme", description=__doc__)
    parser.add_argument("pages", nargs="+", type=Path, help="Markdown files with generated blocks")
    parser.add_argument("--results-dir", type=Path, default=Path("results"))
    parser.add_argument("--suites-dir", type=Path, default=Path("suites"))
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a page is out of date"
    )
    args = parser.parse_args(argv)
    try:
        changed = update_pages(args.pages, args.results_dir, args.suites_dir, check=args.check)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for page in changed:
        verb = "out of date (run `make readme`)" if args.check else "rewritten"
        print(f"{page}: {verb}", file=sys.stderr)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
