"""`make readme`: generated blocks between markers, rewritten idempotently, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting import readme
from peft_rlvr_bench.reporting.leaderboard import build_leaderboard
from peft_rlvr_bench.reporting.metrics import METRICS, METRICS_BY_NAME, cell_text
from tests.helpers.hand_results import SUITE, base, seeded, write_suite

# Parsing and rewriting -------------------------------------------------------------------------


def test_rewrite_replaces_only_block_bodies_and_is_idempotent() -> None:
    text = (
        "intro\n<!-- a-table:start -->\nold\n<!-- a-table:end -->\n"
        "middle\n<!-- b-table:start -->\n<!-- b-table:end -->\n"
    )
    once = readme.rewrite(text, lambda block: f"new {block.name}")
    assert once == (
        "intro\n<!-- a-table:start -->\n\nnew a\n\n<!-- a-table:end -->\nmiddle\n"
        "<!-- b-table:start -->\n\nnew b\n\n<!-- b-table:end -->\n"
    )
    assert readme.rewrite(once, lambda block: f"new {block.name}") == once


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- a-table:start -->\n", "has no end marker"),
        ("<!-- a-table:end -->\n", "has no start marker"),
        ("<!-- a-table:start -->\n<!-- b-table:end -->\n", "has no start marker"),
        ("<!-- a-table:start -->\n<!-- b-table:start -->\n", "has no end marker before"),
        ("<!-- a-table:start rows=3 -->\n<!-- a-table:end -->\n", "unknown option 'rows=3'"),
        ("<!-- columns-table:start columns=in_domain -->\n<!-- columns-table:end -->\n", "unknown option"),
    ],
)
def test_bad_markers_are_one_line_errors_naming_the_page(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as raised:
        readme.find_blocks(text, "PAGE.md")
    assert str(raised.value).startswith("PAGE.md: ") and "\n" not in str(raised.value)


def test_start_marker_options_choose_columns() -> None:
    (block,) = readme.find_blocks("<!-- s-table:start columns=in_domain,updates -->\n<!-- s-table:end -->")
    assert block.name == "s" and block.options == {"columns": "in_domain,updates"}


# Rendering -------------------------------------------------------------------------------------


def test_leaderboard_block_uses_the_leaderboards_cells_and_best_mark() -> None:
    other = [0.5, 0.6, 0.7, 0.55, 0.65, 0.75]
    top = [score + lead for score, lead in zip(other, [0.04, 0.06, 0.05, 0.05, 0.04, 0.06], strict=True)]
    board = build_leaderboard(SUITE, base(), seeded("top", top) + seeded("other", other))
    text = readme.leaderboard_block(board, readme.DEFAULT_COLUMNS, "results/hand/leaderboard.md")
    metric = METRICS_BY_NAME["in_domain"]
    cell = board.rows[1]["in_domain"]
    assert board.rows[1].method == "top" and board.rows[1].best
    assert f"| top ★ | {cell_text(metric, cell.value, cell.ci_low, cell.ci_high)} |" in text
    assert "| base | 25.0 | 30.0 | 0.0 | 0 |" in text
    assert "Means over 6 seeds per method" in text
    assert "Student t over seeds" in text
    assert "★ top is separated from every other trained method" in text
    assert text.endswith("[results/hand/leaderboard.md](results/hand/leaderboard.md).")


def test_leaderboard_block_says_when_no_method_is_separated() -> None:
    board = build_leaderboard(SUITE, base(), seeded("a", [0.5, 0.6, 0.7]) + seeded("b", [0.6, 0.5, 0.7]))
    text = readme.leaderboard_block(board, ["in_domain"], "x.md")
    assert "No method is separated from every other" in text and "★" not in text.split("\n\n")[0]


def test_columns_block_lists_every_declared_metric() -> None:
    rows = [line for line in readme.columns_block().splitlines()[2:]]
    assert [row.split(" | ")[1] for row in rows] == [f"`{metric.name}`" for metric in METRICS]


def test_pages_render_from_a_results_directory(tmp_path: Path) -> None:
    results, suites = tmp_path / "results", tmp_path / "suites"
    suites.mkdir()
    write_suite(results, base(), seeded("lora", [0.5, 0.6, 0.7]) + seeded("full", [0.7, 0.5, 0.8]))
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    page.write_text("# Page\n<!-- hand-table:start columns=in_domain -->\n<!-- hand-table:end -->\n")
    args = [str(page), "--results-dir", str(results), "--suites-dir", str(suites)]
    assert readme.main([*args, "--check"]) == 1
    assert page.read_text().count("\n") == 3, "--check must not write"
    assert readme.main(args) == 0
    text = page.read_text()
    assert "| full | 66.7 [" in text
    assert "[../results/hand/leaderboard.md](../results/hand/leaderboard.md)" in text
    assert readme.main([*args, "--check"]) == 0


def test_unknown_columns_and_missing_results_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "page.md"
    args = [str(page), "--results-dir", str(tmp_path), "--suites-dir", str(tmp_path)]
    page.write_text("<!-- hand-table:start columns=accuracy -->\n<!-- hand-table:end -->\n")
    assert readme.main(args) == 2
    assert "unknown column(s) accuracy; known: in_domain" in capsys.readouterr().err
    page.write_text("<!-- nothing-table:start -->\n<!-- nothing-table:end -->\n")
    assert readme.main(args) == 2
    assert "no results under" in capsys.readouterr().err


def test_markers_inside_running_text_are_not_blocks() -> None:
    text = "Tables sit between `<!-- tiny-table:start -->` and `<!-- tiny-table:end -->` lines.\n"
    assert readme.find_blocks(text) == []
    assert readme.rewrite(text, lambda block: "x") == text
