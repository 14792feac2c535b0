"""The leaderboard as markdown and CSV."""

from __future__ import annotations

import csv
import io

import pytest

from peft_rlvr_bench.reporting.leaderboard import (
    build_leaderboard,
)
from peft_rlvr_bench.reporting.markdown import csv_columns, render_csv, render_markdown
from tests.helpers.hand_results import (
    COMPARISON_CSV,
    CORE_CSV,
    SUITE,
    hand_board,
    result,
)


def test_csv_header_comes_from_the_declarations() -> None:
    board = hand_board()
    assert csv_columns(board) == (*CORE_CSV, *COMPARISON_CSV)
    # steps_saved and the geometry columns are optional: no row has them here.
    assert "steps_saved" not in csv_columns(board) and "update_sparsity" not in csv_columns(board)


def test_csv_values_round_trip() -> None:
    board = hand_board()
    parsed = list(csv.DictReader(io.StringIO(render_csv(board))))
    assert len(parsed) == len(board.rows)
    for row, cells in zip(board.rows, parsed, strict=True):
        assert cells["method"] == row.method and cells["best"] == str(row.best)
        for metric in board.columns:
            cell = row[metric.name]
            values = (cell.value, cell.ci_low, cell.ci_high, cell.kind, cell.pi_low, cell.pi_high)
            for column, value in zip(metric.columns, values, strict=False):
                if value is None:
                    assert cells[column] == ""
                elif isinstance(value, str):
                    assert cells[column] == value
                else:
                    assert float(cells[column]) == value
    lora = next(cells for cells in parsed if cells["method"] == "lora")
    assert float(lora["vs_top_diff"]) == pytest.approx(0.25) and lora["vs_top_seeds"] == "2"
    assert next(cells for cells in parsed if cells["method"] == "pissa")["vs_top_diff"] == ""


def test_markdown_table_cells() -> None:
    text = render_markdown(hand_board())
    lines = text.splitlines()
    assert lines[0] == f"# Leaderboard: {SUITE}"
    header = "| Method | Seeds | In-domain | Out-of-domain | Forgetting | Trainable params | LR | Train s |"
    assert header + " Updates |" in lines
    assert "| base | 1 | 25.0 | 30.0 | 0.0 | 0 | - | - | - |" in lines
    assert (
        "| pissa | 2 | 80.0 [80.0, 80.0] | 60.0 [60.0, 60.0] | 10.0 [10.0, 10.0] | 1.2M | 0.0002 | 10 | - |"
        in lines
    )
    lora = next(line for line in lines if line.startswith("| lora |"))
    assert "| 60.0 [" in lora and "662.4k" in lora and "0.001" in lora and lora.endswith("| 12 | - |")
    assert "- `pissa-s2`: diverged (reward collapsed at step 40)" in lines
    assert "- `full-s0`: failed (CUDA out of memory)" in lines
    # The legend lists every shown column with its direction, from the declarations.
    assert "- Forgetting (lower is better): base minus tuned greedy accuracy (points)" in text
    assert "- Trainable params (diagnostic): " in text
    assert text.endswith("\n")


def test_markdown_without_not_ok_runs_has_no_list() -> None:
    text = render_markdown(build_leaderboard(SUITE, None, [result("lora", 0, 0.5, 0.4, 0.7)]))
    assert "left out" not in text
    assert "| lora | 1 | 50.0 | 40.0 | - |" in text


def test_markdown_lists_the_paired_comparisons() -> None:
    text = render_markdown(hand_board())
    assert "Paired in-domain differences: pissa minus each trained method" in text
    # pissa 0.8, 0.8 vs lora 0.5, 0.6 on seeds 0 and 1: +30 and +20 points.
    # t over 2 seeds: 25 +- 12.706 * 5 points, p = 0.13 (one pair: Holm changes nothing).
    assert "| lora | 2 | +25.0 [-38.5, 88.5] | 0.13 | 0.13 | no |" in text
