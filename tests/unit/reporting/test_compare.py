"""``prb compare``: methods side by side across suites, from hand-made result files."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from peft_rlvr_bench.cli import app
from peft_rlvr_bench.reporting.compare import render_comparison
from peft_rlvr_bench.reporting.leaderboard import build_leaderboard
from peft_rlvr_bench.reporting.results import RunResult
from tests.helpers.hand_results import base, result, seeded, write_suite


def _suite_a() -> tuple[RunResult, list[RunResult]]:
    runs = seeded("lora", [0.55, 0.65, 0.75, 0.60, 0.70, 0.80], suite="hand-a")
    runs += seeded("full", [0.5, 0.6, 0.7, 0.55, 0.65, 0.75], suite="hand-a")
    return base("hand-a"), runs


def _suite_b() -> tuple[RunResult, list[RunResult]]:
    runs = [result("pissa", seed, 0.9, 0.8, 0.75, suite="hand-b") for seed in range(3)]
    # pissa leads by +40, -5, +40 points: p = 0.24 over 3 seeds, no mark.
    runs += [
        result("lora", seed, score, 0.4, 0.70, suite="hand-b") for seed, score in enumerate((0.5, 0.95, 0.5))
    ]
    return base("hand-b"), runs


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    for suite, (base_result, runs) in (("hand-a", _suite_a()), ("hand-b", _suite_b())):
        write_suite(tmp_path, base_result, runs, suite=suite)
    (tmp_path / "empty").mkdir()
    return tmp_path


def test_methods_side_by_side_with_cis_and_each_suites_mark() -> None:
    boards = [build_leaderboard(name, *make()) for name, make in (("hand-a", _suite_a), ("hand-b", _suite_b))]
    lines = render_comparison(boards).splitlines()
    assert lines[0] == "# Comparison: hand-a, hand-b"
    header = next(line for line in lines if line.startswith("| Method |"))
    assert header == (
        "| Method | In-domain (hand-a) | Out-of-domain (hand-a) | Forgetting (hand-a) "
        "| In-domain (hand-b) | Out-of-domain (hand-b) | Forgetting (hand-b) |"
    )
    rows = [
        line.split(" | ")[0].removeprefix("| ")
        for line in lines
        if line.startswith("| ") and "---" not in line
    ]
    assert rows[1:] == ["base", "lora", "full", "pissa"], "base first, then as the suites rank them"
    row = {line.split(" | ")[0].removeprefix("| "): line for line in lines if line.startswith("| ")}
    # lora leads full by 5 points on each of 6 seeds in hand-a: the mark; hand-b has 3 seeds: none.
    assert row["lora"].startswith("| lora | 67.5 [") and " ★ | " in row["lora"]
    assert row["lora"].endswith("| 65.0 [0.5, 129.5] | 40.0 [40.0, 40.0] | 10.0 [10.0, 10.0] |")
    assert row["pissa"] == "| pissa | - | - | - | 90.0 [90.0, 90.0] | 80.0 [80.0, 80.0] | 5.0 [5.0, 5.0] |"
    assert row["base"] == "| base | 25.0 | 30.0 | 0.0 | 25.0 | 30.0 | 0.0 |"
    assert "- hand-a: ★ lora" in lines
    assert "- hand-b: no method separated from the rest (pissa has the highest mean)" in lines
    assert any(line.startswith("- Forgetting (lower is better):") for line in lines)


def test_cli_prints_and_writes_the_comparison(results_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report" / "comparison.md"
    done = CliRunner().invoke(
        app, ["compare", "hand-a", "hand-b", "--results-dir", str(results_dir), "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("# Comparison: hand-a, hand-b")
    assert out.read_text() == done.stdout
    assert f"wrote {out}" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hand-a", "hand-bb"], "unknown suite 'hand-bb' (did you mean 'hand-b'?)"),
        (["hand-a", "empty"], "no results under"),
        (["hand-a"], "name two or more"),
        (["hand-a", "hand-a"], "named twice"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(results_dir: Path, args: list[str], message: str) -> None:
    done = CliRunner().invoke(app, ["compare", *args, "--results-dir", str(results_dir)])
    assert done.exit_code == 2
    assert message in done.stderr and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert done.stdout == ""


def test_cli_out_must_not_be_a_directory(results_dir: Path) -> None:
    done = CliRunner().invoke(
        app, ["compare", "hand-a", "hand-b", "--results-dir", str(results_dir), "--out", "."]
    )
    assert done.exit_code == 2 and "is a directory" in done.stderr
