"""The leaderboard as a pure function of hand-made result files with known answers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.html import render_html
from peft_rlvr_bench.reporting.leaderboard import (
    build_leaderboard,
    leaderboard_rows,
    load_leaderboard,
    load_suite_results,
    not_ok_runs,
    write_leaderboard,
)
from peft_rlvr_bench.reporting.markdown import csv_columns, render_csv, render_markdown
from peft_rlvr_bench.reporting.results import (
    RunResult,
    save_result,
)
from tests.helpers.hand_results import (
    COMPARISON_CSV,
    CORE_CSV,
    GEOMETRY,
    SUITE,
    hand_board,
    result,
    rows_by_method,
    write_suite,
)
from tests.helpers.hand_results import base as _base
from tests.helpers.hand_results import result as hand_result
from tests.helpers.hand_results import runs as _runs
from tests.helpers.provenance import HASH_B, VERSIONS, stamped


def test_rows_group_by_method_with_known_means_and_cis() -> None:
    rows = rows_by_method(leaderboard_rows(_base(), _runs()))
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
    rows = rows_by_method(leaderboard_rows(_base(), _runs()))
    # Base 0.8 on the forgetting tasks; lora seeds score 0.78, 0.75, 0.72.
    lora = rows["lora"]["forgetting"]
    assert lora.value == pytest.approx((0.02 + 0.05 + 0.08) / 3)
    assert lora.ci_low == pytest.approx(0.05 - 4.302653 * 0.03 / 3**0.5)
    assert rows["pissa"].value("forgetting") == pytest.approx(0.1)
    assert rows["base"].value("forgetting") == 0.0


def test_identical_seeds_give_a_degenerate_ci() -> None:
    pissa = rows_by_method(leaderboard_rows(_base(), _runs()))["pissa"]
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
    rows = rows_by_method(leaderboard_rows(_base(), _runs()))
    assert rows["pissa"].n_seeds == 2 and rows["pissa"].not_ok == 1
    assert rows["pissa"].value("in_domain") == pytest.approx(0.8)
    # A method whose every run failed has nothing to average, so it gets no row.
    assert "full" not in rows
    expected = [
        ("full-s0", "failed", "CUDA out of memory"),
        ("pissa-s2", "diverged", "reward collapsed at step 40"),
    ]
    assert not_ok_runs(_runs()) == expected
    assert list(hand_board().not_ok) == expected


def test_rows_do_not_depend_on_run_order() -> None:
    runs = _runs()
    assert leaderboard_rows(_base(), runs) == leaderboard_rows(_base(), list(reversed(runs)))


def test_learning_rate_is_none_when_absent_or_inconsistent() -> None:
    rows = rows_by_method(
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
    row = rows_by_method(board.rows)["lora+relex@15"]
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
    rows = rows_by_method(board.rows)
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
    board = hand_board()
    assert not any(row.value(name) is not None for row in board.rows for name in GEOMETRY)
    assert "Unchanged %" not in render_markdown(board)
    assert not set(GEOMETRY) & set(csv_columns(board))


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
    rows = rows_by_method(board.rows)
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
    cell = rows_by_method(build_leaderboard(SUITE, base, runs).rows)["lora"]["in_domain"]
    assert cell.kind == "t over seeds"


def test_the_leaderboard_tabulates_only_results_of_the_bases_environment(tmp_path: Path) -> None:
    suite_dir = tmp_path / "hand"
    save_result(stamped(hand_result("base", None, 0.25, 0.3, 0.8, lr=None)), suite_dir / "base.json")
    runs = [
        stamped(hand_result("lora", 0, 0.5, 0.4, 0.78)),
        stamped(hand_result("lora", 1, 0.9, 0.4, 0.78), world=HASH_B),
        stamped(hand_result("lora", 2, 0.7, 0.4, 0.78), cpu="AMD EPYC 9B14"),
        stamped(hand_result("full", 0, 0.6, 0.4, 0.78), versions={**VERSIONS, "transformers": "5.0.0"}),
    ]
    for run in runs:
        save_result(run, suite_dir / "runs" / f"{run.run_id}.json")
    board, kept = load_leaderboard(suite_dir, "hand")
    assert sorted(r.run_id for r in kept) == ["lora-s0", "lora-s2"]
    assert [row.method for row in board.rows] == ["base", "lora"]
    lora = board.rows[1]
    assert lora.n_seeds == 2 and lora.value("in_domain") == pytest.approx(0.6)
    assert board.other_environment == (
        ("full-s0", "transformers 5.0.0 -> 5.24.0"),
        ("lora-s1", "world hash bbbbbbbbbbbb -> aaaaaaaaaaaa"),
    )
    markdown = write_leaderboard(suite_dir, "hand").markdown.read_text()
    assert "- `lora-s1`: world hash bbbbbbbbbbbb -> aaaaaaaaaaaa" in markdown


def test_a_nan_metric_reads_nan_and_marks_its_run_never_dash(tmp_path: Path) -> None:
    import math

    from peft_rlvr_bench.reporting.leaderboard import write_leaderboard
    from tests.helpers import hand_results

    broken = hand_results.result("lora", 1, math.nan, 0.45, 0.75)
    results = [hand_results.result("lora", 0, 0.5, 0.40, 0.78), broken]
    results += [
        hand_results.result("pissa", 0, 0.8, 0.6, 0.7),
        hand_results.result("pissa", 1, 0.7, 0.6, 0.7),
    ]
    suite_dir = hand_results.write_suite(tmp_path, hand_results.base(), results)
    files = write_leaderboard(suite_dir, hand_results.SUITE)
    markdown = files.markdown.read_text()
    lora_row = next(line for line in markdown.splitlines() if line.startswith("| lora"))
    cells = [cell.strip() for cell in lora_row.split("|")]
    assert "NaN" in cells, lora_row
    assert "- `lora-s1`: in_domain" in markdown
    csv_row = next(line for line in files.csv.read_text().splitlines() if line.startswith("lora,"))
    assert ",NaN," in csv_row, csv_row
