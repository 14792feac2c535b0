"""leaderboard.html as text: self-contained, tooltips, the left-out runs, the plot."""

from __future__ import annotations

from html import escape
from pathlib import Path

from peft_rlvr_bench.reporting.html import render_html
from tests.helpers.hand_results import hand_board

# HTML (the headless-browser checks are in tests/e2e/test_leaderboard_html.py) --------------------------


def test_html_is_self_contained_with_tooltips_and_the_left_out_runs() -> None:
    board = hand_board()
    page = render_html(board)
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page and "<script>" in page
    # No network: nothing fetched from anywhere (no plot here, so no image either).
    assert "http://" not in page and "https://" not in page and "src=" not in page and "<link" not in page
    for metric in board.columns:
        assert f'data-key="{metric.name}"' in page
        assert f'title="{escape(metric.legend)}"' in page
    assert "<li><code>full-s0</code>: failed (CUDA out of memory)</li>" in page
    assert page.count("<tr data-order=") == len(board.rows) + len(board.verdict.comparisons)


def test_html_embeds_the_learning_curve_plot_when_there_is_one(tmp_path: Path) -> None:
    from dataclasses import replace

    page = render_html(
        replace(hand_board(), plots=(("learning_curves.png", "in-domain accuracy against RL updates"),))
    )
    assert '<img src="learning_curves.png"' in page
