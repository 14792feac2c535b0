"""The leaderboard as a pure function of hand-made result files with known answers."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.leaderboard import (
    CSV_COLUMNS,
    GEOMETRY_COLUMNS,
    Row,
    humanize_count,
    leaderboard_rows,
    load_suite_results,
    not_ok_runs,
    render_csv,
    render_markdown,
    write_leaderboard,
)
from peft_rlvr_bench.reporting.results import (
    RoleScore,
    RunResult,
    TaskScore,
    base_result_path,
    run_result_path,
    save_result,
)

SUITE = "hand"


def _role(score: float) -> RoleScore:
    return RoleScore.from_tasks({"task": TaskScore(accuracy=score, n=100)})


def _result(
    method: str,
    seed: int | None,
    in_domain: float,
    out_of_domain: float,
    forgetting: float,
    *,
    status: str = "ok",
    reason: str | None = None,
    lr: float | None = 1e-3,
    trainable_params: int = 662_400,
    train_seconds: float = 10.0,
) -> RunResult:
    adapter: dict[str, object] = {"name": method}
    if lr is not None:
        adapter["lr"] = lr
    return RunResult(
        suite=SUITE,
        run_id=f"{method}-s{seed}",
        method=method,
        seed=seed,
        status=status,
        reason=reason,
        spec={"adapter": adapter},
        metrics={
            "in_domain": _role(in_domain),
            "out_of_domain": _role(out_of_domain),
            "forgetting": _role(forgetting),
        },
        trainable_params=trainable_params,
        timings={"train": train_seconds} if method != "base" else {},
    )


def _base() -> RunResult:
    return _result("base", None, 0.25, 0.3, 0.8, lr=None, trainable_params=0)


def _runs() -> list[RunResult]:
    return [
        _result("lora", 0, 0.5, 0.40, 0.78, train_seconds=10.0),
        _result("lora", 1, 0.6, 0.45, 0.75, train_seconds=12.0),
        _result("lora", 2, 0.7, 0.50, 0.72, train_seconds=14.0),
        _result("pissa", 0, 0.8, 0.60, 0.70, lr=2e-4, trainable_params=1_200_000),
        _result("pissa", 1, 0.8, 0.60, 0.70, lr=2e-4, trainable_params=1_200_000),
        _result("pissa", 2, 0.0, 0.0, 0.0, status="diverged", reason="reward collapsed\nat step 40"),
        _result("full", 0, 0.1, 0.1, 0.1, status="failed", reason="CUDA out of memory"),
    ]


def _write_suite(root: Path, base: RunResult | None, runs: list[RunResult]) -> Path:
    if base is not None:
        save_result(base, base_result_path(root, SUITE))
    for run in runs:
        save_result(run, run_result_path(root, SUITE, run.run_id))
    return root / SUITE


def _by_method(rows: list[Row]) -> dict[str, Row]:
    return {row.method: row for row in rows}


def test_rows_group_by_method_with_known_means_and_cis() -> None:
    rows = _by_method(leaderboard_rows(_base(), _runs()))
    assert set(rows) == {"base", "lora", "pissa"}
    lora = rows["lora"]
    assert lora.n_seeds == 3
    assert lora.in_domain == pytest.approx(0.6)
    assert 0.5 <= lora.in_domain_ci_low <= 0.6 <= lora.in_domain_ci_high <= 0.7
    assert lora.out_of_domain == pytest.approx(0.45)
    assert lora.train_seconds == pytest.approx(12.0)
    assert lora.trainable_params == 662_400
    assert lora.learning_rate == 1e-3
    assert lora.not_ok == 0


def test_forgetting_is_base_minus_tuned_per_seed() -> None:
    rows = _by_method(leaderboard_rows(_base(), _runs()))
    # Base 0.8 on the forgetting tasks; lora seeds score 0.78, 0.75, 0.72.
    assert rows["lora"].forgetting == pytest.approx((0.02 + 0.05 + 0.08) / 3)
    assert 0.02 - 1e-12 <= rows["lora"].forgetting_ci_low <= rows["lora"].forgetting_ci_high <= 0.08 + 1e-12
    assert rows["pissa"].forgetting == pytest.approx(0.1)
    assert rows["base"].forgetting == 0.0


def test_identical_seeds_give_a_degenerate_ci() -> None:
    pissa = _by_method(leaderboard_rows(_base(), _runs()))["pissa"]
    assert pissa.n_seeds == 2
    assert (pissa.in_domain_ci_low, pissa.in_domain_ci_high) == (0.8, 0.8)


def test_single_seed_ci_is_nan() -> None:
    (row,) = leaderboard_rows(None, [_result("lora", 0, 0.5, 0.4, 0.7)])
    assert row.n_seeds == 1 and row.in_domain == 0.5
    assert math.isnan(row.in_domain_ci_low) and math.isnan(row.in_domain_ci_high)


def test_base_row_first_then_best_in_domain_first() -> None:
    rows = leaderboard_rows(_base(), _runs())
    assert [row.method for row in rows] == ["base", "pissa", "lora"]
    base = rows[0]
    assert base.n_seeds == 1 and base.in_domain == 0.25 and base.out_of_domain == 0.3
    assert base.trainable_params == 0 and base.train_seconds == 0.0 and base.learning_rate is None
    assert math.isnan(base.in_domain_ci_low) and math.isnan(base.forgetting_ci_high)


def test_without_base_there_is_no_base_row_and_forgetting_is_nan() -> None:
    rows = leaderboard_rows(None, _runs())
    assert [row.method for row in rows] == ["pissa", "lora"]
    assert all(math.isnan(row.forgetting) for row in rows)


def test_not_ok_runs_are_excluded_from_rows_but_listed() -> None:
    rows = _by_method(leaderboard_rows(_base(), _runs()))
    assert rows["pissa"].n_seeds == 2 and rows["pissa"].not_ok == 1
    assert rows["pissa"].in_domain == pytest.approx(0.8)
    # A method whose every run failed has nothing to average, so it gets no row.
    assert "full" not in rows
    assert not_ok_runs(_runs()) == [
        ("full-s0", "failed", "CUDA out of memory"),
        ("pissa-s2", "diverged", "reward collapsed at step 40"),
    ]


def test_rows_do_not_depend_on_run_order() -> None:
    runs = _runs()
    assert leaderboard_rows(_base(), runs) == leaderboard_rows(_base(), list(reversed(runs)))


def test_learning_rate_is_none_when_absent_or_inconsistent() -> None:
    rows = _by_method(
        leaderboard_rows(
            None,
            [
                _result("a", 0, 0.5, 0.5, 0.5, lr=None),
                _result("b", 0, 0.5, 0.5, 0.5, lr=1e-3),
                _result("b", 1, 0.5, 0.5, 0.5, lr=2e-3),
            ],
        )
    )
    assert rows["a"].learning_rate is None and rows["b"].learning_rate is None


def test_trainable_params_takes_the_max() -> None:
    (row,) = leaderboard_rows(
        None,
        [
            _result("a", 0, 0.5, 0.5, 0.5, trainable_params=10),
            _result("a", 1, 0.5, 0.5, 0.5, trainable_params=12),
        ],
    )
    assert row.trainable_params == 12


def test_csv_header_and_values_round_trip() -> None:
    rows = leaderboard_rows(_base(), _runs())
    parsed = list(csv.reader(io.StringIO(render_csv(rows))))
    assert tuple(parsed[0]) == CSV_COLUMNS
    assert len(parsed) == 1 + len(rows)
    for row, cells in zip(rows, parsed[1:], strict=True):
        for column, cell in zip(CSV_COLUMNS, cells, strict=True):
            value = getattr(row, column)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                assert cell == ""
            elif isinstance(value, float):
                assert float(cell) == value
            else:
                assert cell == str(value)


def test_markdown_table_cells() -> None:
    rows = leaderboard_rows(_base(), _runs())
    text = render_markdown(SUITE, rows, not_ok_runs(_runs()))
    lines = text.splitlines()
    assert lines[0] == f"# Leaderboard: {SUITE}"
    assert (
        "| Method | Seeds | In-domain | Out-of-domain | Forgetting | Trainable params | LR | Train s "
        "| Updates | Steps saved |" in lines
    )
    assert "| base | 1 | 25.0 | 30.0 | 0.0 | 0 |  | 0 |  |  |" in lines
    assert (
        "| pissa | 2 | 80.0 [80.0, 80.0] | 60.0 [60.0, 60.0] | 10.0 [10.0, 10.0] | 1.2M | 0.0002 | 10 |  |  |"
        in lines
    )
    lora = next(line for line in lines if line.startswith("| lora |"))
    assert "| 60.0 [" in lora and "662.4k" in lora and "0.001" in lora and lora.endswith("| 12 |  |  |")
    assert "- `pissa-s2`: diverged (reward collapsed at step 40)" in lines
    assert "- `full-s0`: failed (CUDA out of memory)" in lines
    assert text.endswith("\n")


def test_markdown_without_not_ok_runs_has_no_list() -> None:
    text = render_markdown(SUITE, leaderboard_rows(None, [_result("lora", 0, 0.5, 0.4, 0.7)]), [])
    assert "left out" not in text
    assert "| lora | 1 | 50.0 | 40.0 | n/a |" in text


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


def test_load_suite_results_reads_base_and_runs(tmp_path: Path) -> None:
    suite_dir = _write_suite(tmp_path, _base(), _runs())
    base, runs = load_suite_results(suite_dir)
    assert base == _base()
    assert sorted(run.run_id for run in runs) == sorted(run.run_id for run in _runs())


def test_load_suite_results_without_base(tmp_path: Path) -> None:
    base, runs = load_suite_results(_write_suite(tmp_path, None, _runs()[:1]))
    assert base is None and len(runs) == 1


@pytest.mark.parametrize("content", ["{not json", '{"suite": "hand"}', ""])
def test_corrupt_result_names_the_file(tmp_path: Path, content: str) -> None:
    suite_dir = _write_suite(tmp_path, _base(), _runs()[:1])
    bad = suite_dir / "runs" / "broken.json"
    bad.write_text(content)
    with pytest.raises(UserError) as info:
        load_suite_results(suite_dir)
    message = str(info.value)
    assert str(bad) in message and "delete it and rerun the suite" in message
    assert "\n" not in message


def test_corrupt_base_names_the_file(tmp_path: Path) -> None:
    suite_dir = _write_suite(tmp_path, None, _runs()[:1])
    (suite_dir / "base.json").write_text("[]")
    with pytest.raises(UserError, match=r"base\.json"):
        write_leaderboard(suite_dir, SUITE)


def test_write_leaderboard_writes_both_files(tmp_path: Path) -> None:
    suite_dir = _write_suite(tmp_path, _base(), _runs())
    markdown_path, csv_path = write_leaderboard(suite_dir, SUITE)
    assert markdown_path == suite_dir / "leaderboard.md" and csv_path == suite_dir / "leaderboard.csv"
    rows = leaderboard_rows(_base(), _runs())
    assert csv_path.read_text() == render_csv(rows)
    assert markdown_path.read_text() == render_markdown(SUITE, rows, not_ok_runs(_runs()))
    assert not list(suite_dir.glob(".*.tmp"))


def test_write_leaderboard_is_deterministic(tmp_path: Path) -> None:
    first = _write_suite(tmp_path / "a", _base(), _runs())
    second = _write_suite(tmp_path / "b", _base(), list(reversed(_runs())))
    paths_a = write_leaderboard(first, SUITE)
    bytes_a = [path.read_bytes() for path in paths_a]
    assert [path.read_bytes() for path in write_leaderboard(first, SUITE)] == bytes_a
    assert [path.read_bytes() for path in write_leaderboard(second, SUITE)] == bytes_a


def test_write_leaderboard_without_results_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no results under .*prb run suites/hand.yaml"):
        write_leaderboard(tmp_path / SUITE, SUITE)
    assert not (tmp_path / SUITE).exists()


def test_result_files_of_runs_no_longer_in_the_suite_are_left_out(tmp_path: Path) -> None:
    suite_dir = _write_suite(tmp_path, _base(), _runs())
    current = {r.run_id for r in _runs()} - {"lora-s0"}
    markdown_path, csv_path = write_leaderboard(suite_dir, SUITE, current)
    assert "left out: lora-s0" in markdown_path.read_text()
    with csv_path.open() as handle:
        lora = next(row for row in csv.DictReader(handle) if row["method"] == "lora")
    assert lora["n_seeds"] == "2" and float(lora["in_domain"]) == pytest.approx(0.65)
    full_md = write_leaderboard(suite_dir, SUITE)[0].read_text()
    assert "earlier version of the suite" not in full_md


def test_extrapolated_rows_follow_their_source_and_average_steps_saved() -> None:
    runs = _runs()
    derived = []
    for seed, saved in ((0, 30), (1, 50)):
        run = _result("lora+relex@15", seed, 0.9, 0.5, 0.7)
        info = {"source_method": "lora", "updates_used": 15, "steps_saved": saved}
        derived.append(run.model_copy(update={"extrapolation": info}))
    rows = leaderboard_rows(_base(), runs + derived)
    methods = [row.method for row in rows]
    assert methods[methods.index("lora") + 1] == "lora+relex@15", "not sorted by its own (higher) score"
    row = _by_method(rows)["lora+relex@15"]
    assert row.updates == 15 and row.steps_saved == 40


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
    suite_dir = _write_suite(tmp_path, _base(), runs)
    base, loaded = load_suite_results(suite_dir)
    rows = _by_method(leaderboard_rows(base, loaded))
    lora, pissa = rows["lora"], rows["pissa"]
    assert lora.geometry_runs == 2 and pissa.geometry_runs == 1 and rows["base"].geometry_runs == 0
    assert lora.update_sparsity == pytest.approx(0.8) and lora.top1_energy_share == pytest.approx(0.6)
    assert lora.spectral_shift == pytest.approx(0.02) and lora.principal_angle_16 == pytest.approx(15.0)
    assert pissa.update_sparsity == 0.25 and pissa.spectral_shift == 0.5
    assert pissa.top1_energy_share is None and pissa.principal_angle_16 is None

    ordered = leaderboard_rows(base, loaded)
    parsed = list(csv.DictReader(io.StringIO(render_csv(ordered))))
    assert tuple(parsed[0]) == CSV_COLUMNS + tuple(column.name for column in GEOMETRY_COLUMNS)
    csv_lora = next(row for row in parsed if row["method"] == "lora")
    assert float(csv_lora["update_sparsity"]) == pytest.approx(0.8)
    assert float(csv_lora["principal_angle_16"]) == pytest.approx(15.0)
    assert next(row for row in parsed if row["method"] == "base")["update_sparsity"] == ""

    lines = render_markdown(SUITE, ordered, []).splitlines()
    assert lines[4].endswith("| Steps saved | Unchanged % | Top-1 share | Spectral shift | Angle@16 |")
    assert lines[5].count("--:") == 9 + len(GEOMETRY_COLUMNS)
    assert next(line for line in lines if line.startswith("| lora |")).endswith("| 80.0 | 0.6 | 0.02 | 15 |")
    assert next(line for line in lines if line.startswith("| pissa |")).endswith("| 25.0 | - | 0.5 | - |")
    assert next(line for line in lines if line.startswith("| base |")).endswith("| - | - | - | - |")
    assert "Unchanged %: bf16 update sparsity" in lines[2]


def test_without_geometry_the_table_has_no_geometry_columns() -> None:
    rows = leaderboard_rows(_base(), _runs())
    assert not any(row.geometry_runs for row in rows)
    assert "Unchanged %" not in render_markdown(SUITE, rows, [])
    assert render_csv(rows).splitlines()[0] == ",".join(CSV_COLUMNS)
