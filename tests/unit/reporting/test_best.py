"""The best mark: every pair separated after Holm, and a power note that says how many seeds."""

from __future__ import annotations

import csv
import io

import pytest

from peft_rlvr_bench.reporting.html import render_html
from peft_rlvr_bench.reporting.leaderboard import (
    Leaderboard,
    build_leaderboard,
)
from peft_rlvr_bench.reporting.markdown import csv_columns, render_csv, render_markdown
from tests.helpers.hand_results import SUITE, result, seeded
from tests.helpers.hand_results import base as _base

# The best-method mark and the power note -----------------------------------------------------


def _best(board: Leaderboard) -> list[str]:
    return [row.method for row in board.rows if row.best]


def _paired_t_p(differences: list[float]) -> float:
    """The two-sided paired t p-value, computed independently of the package."""
    from scipy import stats

    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def test_best_mark_needs_every_pair_separated_after_holm() -> None:
    other = [0.5, 0.6, 0.7, 0.55, 0.65, 0.75]
    lead = [0.04, 0.06, 0.05, 0.05, 0.04, 0.06]
    runs = seeded("top", [o + d for o, d in zip(other, lead, strict=True)]) + seeded("other", other)
    runs += seeded("third", [0.2, 0.25, 0.2, 0.3, 0.2, 0.25])
    board = build_leaderboard(SUITE, _base(), runs)
    assert _best(board) == ["top"] and board.verdict.best == "top"
    assert board.verdict.family == 3, "every pair of trained methods, not only the top's"
    versus_other = board.verdict.comparisons[0]
    assert versus_other.method == "other"
    assert versus_other.paired.p_value == pytest.approx(_paired_t_p(lead))
    assert versus_other.p_holm >= versus_other.paired.p_value and versus_other.separated
    assert board.verdict.note.startswith("★ top is the best method on in-domain")
    text = render_markdown(board)
    assert "| top ★ | 6 |" in text and "| other | 6 |" in text
    parsed = {row["method"]: row["best"] for row in csv.DictReader(io.StringIO(render_csv(board)))}
    assert parsed == {"base": "False", "top": "True", "other": "False", "third": "False"}
    assert '<tr data-order="1" data-method="top" class="best">' in render_html(board)


def test_holm_takes_away_a_mark_single_tests_would_give() -> None:
    from statsmodels.stats.multitest import multipletests

    other = [0.60, 0.61, 0.62, 0.63, 0.64]
    runs = seeded("top", [o + d for o, d in zip(other, [0.0, 0.03, 0.02, 0.035, 0.015], strict=True)])
    runs += seeded("other", other)
    runs += seeded("c", [o + d for o, d in zip(other, [0.005, -0.005, 0.0, 0.01, -0.01], strict=True)])
    board = build_leaderboard(SUITE, None, runs)
    assert board.verdict.family == 3
    raw = [c.paired.p_value for c in board.verdict.comparisons]
    assert all(p < 0.05 for p in raw), "each test alone would separate top from the other two"
    everything = [*raw, _paired_t_p([0.005, -0.005, 0.0, 0.01, -0.01])]
    expected = multipletests(everything, method="holm")[1]
    assert [c.p_holm for c in board.verdict.comparisons] == pytest.approx(list(expected[:2]))
    assert all(c.p_holm > 0.05 and not c.separated for c in board.verdict.comparisons)
    assert _best(board) == []
    assert "| other | 5 |" in render_markdown(board) and "p (Holm)" in render_markdown(board)


def test_three_seeds_of_a_noisy_lead_are_not_enough_and_the_note_says_how_many() -> None:
    # Paired differences 0, 2, 4 points: mean 2, SD 2; t = 1.73 on 2 df, p = 0.23.
    runs = seeded("top", [0.60, 0.62, 0.64]) + seeded("other", [0.60, 0.60, 0.60])
    board = build_leaderboard(SUITE, None, runs)
    (comparison,) = board.verdict.comparisons
    assert comparison.paired.p_value == pytest.approx(_paired_t_p([0.0, 0.02, 0.04]))
    assert not comparison.separated and _best(board) == []
    note = board.verdict.note
    assert note.startswith("No method is marked best: top has the highest mean in-domain")
    # statsmodels: effect size 1 at 80% power, two-sided 0.05 needs 9.94 pairs -> 10 seeds.
    assert "Not separated at this power: needs 10 seeds to separate top from other" in note
    assert "the observed difference of 2.0 points" in note and "they share 3" in note
    assert "\n| top | 3 |" in render_markdown(board), "no mark in the table"


def test_a_difference_below_the_minimum_detectable_effect_is_planned_at_that_effect() -> None:
    # Differences 1, -1, 0.3 points: mean 0.1 point, below the 1-point effect the note plans for.
    runs = seeded("a", [0.51, 0.59, 0.703]) + seeded("b", [0.5, 0.6, 0.7])
    note = build_leaderboard(SUITE, None, runs).verdict.note
    assert "a 1.0 points difference (the observed 0.1 points is below that minimum detectable effect)" in note
    assert "needs" in note and "seeds to separate a from b" in note


def test_identical_methods_tie() -> None:
    runs = seeded("a", [0.5, 0.6, 0.7]) + seeded("b", [0.5, 0.6, 0.7])
    board = build_leaderboard(SUITE, None, runs)
    (comparison,) = board.verdict.comparisons
    assert comparison.paired.difference == 0 and comparison.paired.p_value == 1 and not comparison.separated
    assert _best(board) == []


def test_one_shared_seed_cannot_be_tested() -> None:
    runs = seeded("top", [0.9]) + seeded("other", [0.5])
    board = build_leaderboard(SUITE, None, runs)
    assert _best(board) == [] and board.verdict.family == 0
    assert "share 1 seed(s): a paired test needs at least 2" in board.verdict.note


def test_extrapolations_and_base_are_never_best() -> None:
    runs = seeded("lora", [0.54, 0.66, 0.75, 0.60, 0.69, 0.81]) + seeded(
        "full", [0.5, 0.6, 0.7, 0.55, 0.65, 0.75]
    )
    derived = [
        run.model_copy(update={"extrapolation": {"source_method": "full", "updates_used": 15}})
        for run in seeded("full+relex@15", [0.99] * 6)
    ]
    base = result("base", None, 1.0, 1.0, 0.8, lr=None, trainable_params=0)
    board = build_leaderboard(SUITE, base, runs + derived)
    assert [row.method for row in board.rows] == ["base", "lora", "full", "full+relex@15"]
    assert _best(board) == ["lora"]
    assert [c.method for c in board.verdict.comparisons] == ["full"]


def test_a_single_method_is_not_marked_best() -> None:
    board = build_leaderboard(SUITE, _base(), seeded("lora", [0.5] * 6))
    assert _best(board) == [] and not board.verdict.comparisons
    assert "nothing to compare" in board.verdict.note
    assert "vs_top_diff" not in csv_columns(board)
