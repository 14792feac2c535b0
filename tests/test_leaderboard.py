"""The leaderboard as a pure function of hand-made result files with known answers."""

from __future__ import annotations

import csv
import io
from html import escape
from pathlib import Path

import numpy as np
import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.html import render_html
from peft_rlvr_bench.reporting.leaderboard import (
    Leaderboard,
    Row,
    build_leaderboard,
    leaderboard_rows,
    load_leaderboard,
    load_suite_results,
    not_ok_runs,
    write_leaderboard,
)
from peft_rlvr_bench.reporting.markdown import csv_columns, render_csv, render_markdown
from peft_rlvr_bench.reporting.metrics import METRICS, METRICS_BY_NAME, Metric, field, humanize_count, percent
from peft_rlvr_bench.reporting.results import RunResult
from tests.hand_results import SUITE, result, seeded, write_suite
from tests.hand_results import base as _base
from tests.hand_results import runs as _runs

CI_SUFFIXES = ("ci_low", "ci_high", "ci_kind", "pi_low", "pi_high")
CORE_CSV = (
    "method",
    "n_seeds",
    "best",
    "in_domain",
    *(f"in_domain_{suffix}" for suffix in CI_SUFFIXES),
    "out_of_domain",
    *(f"out_of_domain_{suffix}" for suffix in CI_SUFFIXES),
    "forgetting",
    *(f"forgetting_{suffix}" for suffix in CI_SUFFIXES),
    "trainable_params",
    "learning_rate",
    "train_seconds",
    "updates",
)
COMPARISON_CSV = (
    "vs_top_diff",
    "vs_top_ci_low",
    "vs_top_ci_high",
    "vs_top_p",
    "vs_top_p_holm",
    "vs_top_seeds",
    "vs_top_ci_kind",
)
GEOMETRY = ("update_sparsity", "top1_energy_share", "spectral_shift", "principal_angle_16")


def _board(base: RunResult | None = None, runs: list[RunResult] | None = None) -> Leaderboard:
    return build_leaderboard(SUITE, _base() if base is None else base, _runs() if runs is None else runs)


def _by_method(rows: list[Row] | tuple[Row, ...]) -> dict[str, Row]:
    return {row.method: row for row in rows}


def test_rows_group_by_method_with_known_means_and_cis() -> None:
    rows = _by_method(leaderboard_rows(_base(), _runs()))
    assert set(rows) == {"base", "lora", "pissa"}
    lora = rows["lora"]
    assert lora.n_seeds == 3
    assert lora.value("in_domain") == pytest.approx(0.6)
    # Student t over 3 seeds: 0.6 +- t[0.975, 2] * 0.1 / sqrt(3) = 0.6 +- 4.3027 * 0.057735.
    half = 4.302653 * 0.1 / 3**0.5
    assert lora["in_domain"].ci_low == pytest.approx(0.6 - half) and lora[
        "in_domain"
    ].ci_high == pytest.approx(0.6 + half)
    assert lora["in_domain"].kind == "t over seeds"
    # A new seed: 0.6 +- 4.3027 * 0.1 * sqrt(1 + 1/3).
    assert lora["in_domain"].pi_low == pytest.approx(0.6 - 4.302653 * 0.1 * (4 / 3) ** 0.5)
    assert lora.value("out_of_domain") == pytest.approx(0.45)
    assert lora.value("train_seconds") == pytest.approx(12.0)
    assert lora.value("trainable_params") == 662_400
    assert lora.value("learning_rate") == 1e-3
    assert lora.not_ok == 0 and not lora.derived


def test_forgetting_is_base_minus_tuned_per_seed() -> None:
    rows = _by_method(leaderboard_rows(_base(), _runs()))
    # Base 0.8 on the forgetting tasks; lora seeds score 0.78, 0.75, 0.72.
    lora = rows["lora"]["forgetting"]
    assert lora.value == pytest.approx((0.02 + 0.05 + 0.08) / 3)
    assert lora.ci_low == pytest.approx(0.05 - 4.302653 * 0.03 / 3**0.5)
    assert rows["pissa"].value("forgetting") == pytest.approx(0.1)
    assert rows["base"].value("forgetting") == 0.0


def test_identical_seeds_give_a_degenerate_ci() -> None:
    pissa = _by_method(leaderboard_rows(_base(), _runs()))["pissa"]
    assert pissa.n_seeds == 2
    assert (pissa["in_domain"].ci_low, pissa["in_domain"].ci_high) == (0.8, 0.8)


def test_single_seed_has_no_ci() -> None:
    (row,) = leaderboard_rows(None, [result("lora", 0, 0.5, 0.4, 0.7)])
    assert row.n_seeds == 1 and row.value("in_domain") == 0.5
    assert row["in_domain"].ci_low is None and row["in_domain"].ci_high is None


def test_base_row_first_then_best_in_domain_first() -> None:
    rows = leaderboard_rows(_base(), _runs())
    assert [row.method for row in rows] == ["base", "pissa", "lora"]
    base = rows[0]
    assert base.n_seeds == 1 and base.value("in_domain") == 0.25 and base.value("out_of_domain") == 0.3
    assert base.value("trainable_params") == 0
    assert base.value("train_seconds") is None and base.value("learning_rate") is None
    assert base["in_domain"].ci_low is None and base["forgetting"].ci_high is None


def test_without_base_there_is_no_base_row_and_no_forgetting() -> None:
    rows = leaderboard_rows(None, _runs())
    assert [row.method for row in rows] == ["pissa", "lora"]
    assert all(row.value("forgetting") is None for row in rows)


def test_not_ok_runs_are_excluded_from_rows_but_listed() -> None:
    rows = _by_method(leaderboard_rows(_base(), _runs()))
    assert rows["pissa"].n_seeds == 2 and rows["pissa"].not_ok == 1
    assert rows["pissa"].value("in_domain") == pytest.approx(0.8)
    # A method whose every run failed has nothing to average, so it gets no row.
    assert "full" not in rows
    expected = [
        ("full-s0", "failed", "CUDA out of memory"),
        ("pissa-s2", "diverged", "reward collapsed at step 40"),
    ]
    assert not_ok_runs(_runs()) == expected
    assert list(_board().not_ok) == expected


def test_rows_do_not_depend_on_run_order() -> None:
    runs = _runs()
    assert leaderboard_rows(_base(), runs) == leaderboard_rows(_base(), list(reversed(runs)))


def test_learning_rate_is_none_when_absent_or_inconsistent() -> None:
    rows = _by_method(
        leaderboard_rows(
            None,
            [
                result("a", 0, 0.5, 0.5, 0.5, lr=None),
                result("b", 0, 0.5, 0.5, 0.5, lr=1e-3),
                result("b", 1, 0.5, 0.5, 0.5, lr=2e-3),
                result("c", 0, 0.5, 0.5, 0.5, lr=1e-3),
                result("c", 1, 0.5, 0.5, 0.5, lr=None),
            ],
        )
    )
    assert all(rows[m].value("learning_rate") is None for m in "abc")


def test_trainable_params_takes_the_max() -> None:
    (row,) = leaderboard_rows(
        None,
        [
            result("a", 0, 0.5, 0.5, 0.5, trainable_params=10),
            result("a", 1, 0.5, 0.5, 0.5, trainable_params=12),
        ],
    )
    assert row.value("trainable_params") == 12


# One declaration of every metric -------------------------------------------------------------


def test_every_metric_is_declared_once_with_a_direction_and_a_description() -> None:
    assert len({m.name for m in METRICS}) == len(METRICS)
    for metric in METRICS:
        assert metric.direction in ("higher", "lower", "diagnostic")
        assert metric.description and metric.header
        assert metric.legend.startswith(f"{metric.header} (")
    assert METRICS_BY_NAME["in_domain"].direction == "higher"
    assert METRICS_BY_NAME["forgetting"].direction == "lower" and METRICS_BY_NAME["forgetting"].versus_base
    assert all(METRICS_BY_NAME[name].direction == "diagnostic" for name in GEOMETRY)


def test_field_reads_attributes_and_keys_and_none_when_absent() -> None:
    run = result("lora", 0, 0.5, 0.4, 0.7, train_seconds=3.0).model_copy(
        update={"extrapolation": {"steps_saved": 7, "flag": True}}
    )
    assert field("metrics", "in_domain", "score")(run) == 0.5
    assert field("timings", "train")(run) == 3.0
    assert field("extrapolation", "steps_saved")(run) == 7
    assert field("extrapolation", "flag")(run) is None, "a bool is not a number"
    assert field("metrics", "pass_at_k", "8")(run) is None
    assert field("no_such_field")(run) is None
    assert field("geometry", "headline")(run) is None


def test_csv_header_comes_from_the_declarations() -> None:
    board = _board()
    assert csv_columns(board) == (*CORE_CSV, *COMPARISON_CSV)
    # steps_saved and the geometry columns are optional: no row has them here.
    assert "steps_saved" not in csv_columns(board) and "update_sparsity" not in csv_columns(board)


def test_csv_values_round_trip() -> None:
    board = _board()
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
    text = render_markdown(_board())
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


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (950, "950"),
        (662_400, "662.4k"),
        (1_200_000, "1.2M"),
        (999_960, "1.0M"),
        (7_615_616_512, "7.6B"),
    ],
)
def test_humanize_count(count: int, text: str) -> None:
    assert humanize_count(count) == text


def test_a_new_metric_is_one_entry_and_shows_only_where_measured() -> None:
    kl = Metric("kl_drift", "KL drift", "lower", "KL to the base", field("timings", "kl"), ci=True)
    runs = [r.model_copy(update={"timings": {**r.timings, "kl": 0.1 * (r.seed or 0)}}) for r in _runs()[:3]]
    runs += _runs()[3:]
    board = build_leaderboard(SUITE, _base(), runs, metrics=(*METRICS, kl))
    assert board.columns[-1] is kl
    rows = _by_method(board.rows)
    assert rows["lora"].value("kl_drift") == pytest.approx(0.1) and rows["pissa"].value("kl_drift") is None
    assert "kl_drift_ci_low" in csv_columns(board)
    text = render_markdown(board)
    assert "| KL drift |" in text and "- KL drift (lower is better): KL to the base" in text
    assert next(line for line in text.splitlines() if line.startswith("| pissa |")).endswith("| - |")
    # Nobody measured it: no column anywhere.
    unmeasured = build_leaderboard(SUITE, _base(), _runs(), metrics=(*METRICS, kl))
    assert kl not in unmeasured.columns and "kl_drift" not in csv_columns(unmeasured)
    assert "KL drift" not in render_markdown(unmeasured) and "KL drift" not in render_html(unmeasured)


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


def test_markdown_lists_the_paired_comparisons() -> None:
    text = render_markdown(_board())
    assert "Paired in-domain differences: pissa minus each trained method" in text
    # pissa 0.8, 0.8 vs lora 0.5, 0.6 on seeds 0 and 1: +30 and +20 points.
    # t over 2 seeds: 25 +- 12.706 * 5 points, p = 0.13 (one pair: Holm changes nothing).
    assert "| lora | 2 | +25.0 [-38.5, 88.5] | 0.13 | 0.13 | no |" in text


# Files ---------------------------------------------------------------------------------------


def test_load_suite_results_reads_base_and_runs(tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path, _base(), _runs())
    base, runs = load_suite_results(suite_dir)
    assert base == _base()
    assert sorted(run.run_id for run in runs) == sorted(run.run_id for run in _runs())


def test_load_suite_results_without_base(tmp_path: Path) -> None:
    base, runs = load_suite_results(write_suite(tmp_path, None, _runs()[:1]))
    assert base is None and len(runs) == 1


@pytest.mark.parametrize("content", ["{not json", '{"suite": "hand"}', ""])
def test_corrupt_result_names_the_file(tmp_path: Path, content: str) -> None:
    suite_dir = write_suite(tmp_path, _base(), _runs()[:1])
    bad = suite_dir / "runs" / "broken.json"
    bad.write_text(content)
    with pytest.raises(UserError) as info:
        load_suite_results(suite_dir)
    message = str(info.value)
    assert str(bad) in message and "delete it and rerun the suite" in message
    assert "\n" not in message


def test_corrupt_base_names_the_file(tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path, None, _runs()[:1])
    (suite_dir / "base.json").write_text("[]")
    with pytest.raises(UserError, match=r"base\.json"):
        write_leaderboard(suite_dir, SUITE)


def test_write_leaderboard_writes_markdown_csv_and_html(tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path, _base(), _runs())
    files = write_leaderboard(suite_dir, SUITE)
    assert files == (
        suite_dir / "leaderboard.md",
        suite_dir / "leaderboard.csv",
        suite_dir / "leaderboard.html",
    )
    board, _ = load_leaderboard(suite_dir, SUITE)  # the same results, plus the plots now on disk
    assert [name for name, _ in board.plots] == ["pareto.png", "forgetting.png"]
    assert all((suite_dir / name).stat().st_size > 0 for name, _ in board.plots)
    assert files.csv.read_text() == render_csv(board)
    assert files.markdown.read_text() == render_markdown(board)
    assert files.html.read_text() == render_html(board)
    assert "![forgetting against in-domain gain](forgetting.png)" in files.markdown.read_text()
    assert not list(suite_dir.glob(".*.tmp"))


def test_the_pareto_frontier_keeps_only_points_no_cheaper_point_beats() -> None:
    from peft_rlvr_bench.reporting.plots import _frontier

    points = [(10.0, 0.80), (1.0, 0.70), (5.0, 0.65), (100.0, 0.79), (50.0, 0.90)]
    assert _frontier(points) == [(1.0, 0.70), (10.0, 0.80), (50.0, 0.90)]


def test_write_leaderboard_is_deterministic(tmp_path: Path) -> None:
    first = write_suite(tmp_path / "a", _base(), _runs())
    second = write_suite(tmp_path / "b", _base(), list(reversed(_runs())))
    bytes_a = [path.read_bytes() for path in write_leaderboard(first, SUITE)]
    assert [path.read_bytes() for path in write_leaderboard(first, SUITE)] == bytes_a
    assert [path.read_bytes() for path in write_leaderboard(second, SUITE)] == bytes_a


def test_write_leaderboard_without_results_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no results under .*prb run suites/hand.yaml"):
        write_leaderboard(tmp_path / SUITE, SUITE)
    assert not (tmp_path / SUITE).exists()


def test_result_files_of_runs_no_longer_in_the_suite_are_left_out(tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path, _base(), _runs())
    current = {r.run_id for r in _runs()} - {"lora-s0"}
    files = write_leaderboard(suite_dir, SUITE, current)
    assert "left out: lora-s0" in files.markdown.read_text()
    assert "left out: lora-s0" in files.html.read_text()
    with files.csv.open() as handle:
        lora = next(row for row in csv.DictReader(handle) if row["method"] == "lora")
    assert lora["n_seeds"] == "2" and float(lora["in_domain"]) == pytest.approx(0.65)
    full_md = write_leaderboard(suite_dir, SUITE).markdown.read_text()
    assert "earlier version of the suite" not in full_md


def test_extrapolated_rows_follow_their_source_and_average_steps_saved() -> None:
    runs = _runs()
    derived = []
    for seed, saved in ((0, 30), (1, 50)):
        run = result("lora+relex@15", seed, 0.9, 0.5, 0.7)
        info = {"source_method": "lora", "updates_used": 15, "steps_saved": saved}
        derived.append(run.model_copy(update={"extrapolation": info}))
    board = build_leaderboard(SUITE, _base(), runs + derived)
    methods = [row.method for row in board.rows]
    assert methods[methods.index("lora") + 1] == "lora+relex@15", "not sorted by its own (higher) score"
    row = _by_method(board.rows)["lora+relex@15"]
    assert row.derived and row.value("updates") == 15 and row.value("steps_saved") == 40
    assert "steps_saved" in csv_columns(board) and "| Steps saved |" in render_markdown(board)


def _geometry(sparsity: float, top1: float | None, shift: float, angle: float | None) -> dict[str, object]:
    means: dict[str, float | None] = {"top1_energy_share": top1, "spectral_shift": shift}
    if angle is not None:
        means["principal_angle_left_deg@16"] = angle
    return {"headline": {"tensors": 28, "numel": 10, "update_sparsity": sparsity, "means": means}}


def test_geometry_columns_are_means_over_seeds_with_a_dash_where_missing(tmp_path: Path) -> None:
    geometries = {
        ("lora", 0): _geometry(0.9, 0.5, 0.01, 10.0),
        ("lora", 1): _geometry(0.7, 0.7, 0.03, 20.0),
        ("lora", 2): None,  # e.g. a result written before geometry was measured
        ("pissa", 0): _geometry(0.25, None, 0.5, None),
    }
    runs = [run.model_copy(update={"geometry": geometries.get((run.method, run.seed))}) for run in _runs()]
    # A result file round trip: the geometry dict survives save and load as it is.
    suite_dir = write_suite(tmp_path, _base(), runs)
    base, loaded = load_suite_results(suite_dir)
    board = build_leaderboard(SUITE, base, loaded)
    rows = _by_method(board.rows)
    lora, pissa = rows["lora"], rows["pissa"]
    assert lora["update_sparsity"].n == 2 and pissa["update_sparsity"].n == 1
    assert lora.value("update_sparsity") == pytest.approx(0.8) and lora.value(
        "top1_energy_share"
    ) == pytest.approx(0.6)
    assert lora.value("spectral_shift") == pytest.approx(0.02) and lora.value(
        "principal_angle_16"
    ) == pytest.approx(15)
    assert pissa.value("update_sparsity") == 0.25 and pissa.value("spectral_shift") == 0.5
    assert pissa.value("top1_energy_share") is None and pissa.value("principal_angle_16") is None

    parsed = list(csv.DictReader(io.StringIO(render_csv(board))))
    assert tuple(parsed[0]) == (*CORE_CSV, *GEOMETRY, *COMPARISON_CSV)
    csv_lora = next(row for row in parsed if row["method"] == "lora")
    assert float(csv_lora["update_sparsity"]) == pytest.approx(0.8)
    assert float(csv_lora["principal_angle_16"]) == pytest.approx(15.0)
    assert next(row for row in parsed if row["method"] == "base")["update_sparsity"] == ""

    lines = render_markdown(board).splitlines()
    header = next(line for line in lines if line.startswith("| Method |"))
    assert header.endswith("| Updates | Unchanged % | Top-1 share | Spectral shift | Angle@16 |")
    assert lines[lines.index(header) + 1].count("--:") == 1 + 7 + len(GEOMETRY)
    assert next(line for line in lines if line.startswith("| lora |")).endswith("| 80.0 | 0.6 | 0.02 | 15 |")
    assert next(line for line in lines if line.startswith("| pissa |")).endswith("| 25.0 | - | 0.5 | - |")
    assert next(line for line in lines if line.startswith("| base |")).endswith("| - | - | - | - |")
    assert any(line.startswith("- Unchanged % (diagnostic): bf16 update sparsity") for line in lines)


def test_without_geometry_the_table_has_no_geometry_columns() -> None:
    board = _board()
    assert not any(row.value(name) is not None for row in board.rows for name in GEOMETRY)
    assert "Unchanged %" not in render_markdown(board)
    assert not set(GEOMETRY) & set(csv_columns(board))


# HTML (the headless-browser checks are in test_html_leaderboard.py) --------------------------


def test_html_is_self_contained_with_tooltips_and_the_left_out_runs() -> None:
    board = _board()
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
        replace(_board(), plots=(("learning_curves.png", "in-domain accuracy against RL updates"),))
    )
    assert '<img src="learning_curves.png"' in page


def test_percent_never_shows_minus_zero() -> None:
    assert percent(-0.0001) == "0.0" and percent(0.9172) == "91.7"


# Per-item scores -----------------------------------------------------------------------------


def _with_items(run: RunResult, role: str, scores: list[float], digest: str = "abc") -> RunResult:
    from peft_rlvr_bench.reporting.results import RoleScore, TaskScore

    task = TaskScore(accuracy=sum(scores) / len(scores), n=len(scores), items=scores, items_digest=digest)
    metrics = {**run.metrics, role: RoleScore.from_tasks({"task": task})}
    return run.model_copy(update={"metrics": metrics})


def _item_runs(digests: tuple[str, ...] = ("abc", "abc", "abc")) -> tuple[RunResult, list[RunResult]]:
    rng = np.random.default_rng(0)
    difficulty = rng.random(200)
    base = _with_items(_base(), "in_domain", [float(x) for x in rng.random(200) < difficulty])
    runs = []
    for seed, digest in enumerate(digests):
        scores = [float(x) for x in rng.random(200) < difficulty + 0.1]
        runs.append(_with_items(result("lora", seed, 0.0, 0.4, 0.7), "in_domain", scores, digest))
    return base, runs


def test_item_scores_give_a_seeds_x_items_interval_and_the_base_an_items_one() -> None:
    base, runs = _item_runs()
    board = build_leaderboard(SUITE, base, runs)
    rows = _by_method(board.rows)
    cell = rows["lora"]["in_domain"]
    values = [run.metrics["in_domain"].score for run in runs]
    assert cell.kind == "seeds x items" and cell.value == pytest.approx(sum(values) / 3)
    assert rows["base"]["in_domain"].kind == "items" and rows["base"]["in_domain"].ci_low is not None
    assert rows["lora"]["out_of_domain"].kind == "t over seeds", "no item scores there"
    text = render_markdown(board)
    assert "- seeds x items variance components with Satterthwaite df" in text
    assert "In-domain (lora)" in text, "a column mixing kinds names its rows"
    parsed = {row["method"]: row for row in csv.DictReader(io.StringIO(render_csv(board)))}
    assert parsed["lora"]["in_domain_ci_kind"] == "seeds x items"
    assert parsed["lora"]["out_of_domain_ci_kind"] == "t over seeds"


def test_item_scores_with_different_digests_fall_back_to_the_seed_t() -> None:
    base, runs = _item_runs(("abc", "abc", "other"))
    cell = _by_method(build_leaderboard(SUITE, base, runs).rows)["lora"]["in_domain"]
    assert cell.kind == "t over seeds"
