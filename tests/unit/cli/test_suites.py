"""The suite commands (`prb validate`, `list`, `run`): exit codes, one-line errors, light imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPO
from tests.helpers.suites import GOOD, write


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_validate_exits_2_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("name: lora", "name: lorra"))
    before = sorted(tmp_path.rglob("*"))
    done = run_cli("validate", str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "did you mean 'lora'?" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert sorted(tmp_path.rglob("*")) == before


def test_cli_run_of_bad_suite_writes_no_results(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("max_steps: 5", "max_steps: -1"))
    done = run_cli("run", str(path), cwd=tmp_path)
    assert done.returncode == 2 and "budget.max_steps" in done.stderr
    assert not (tmp_path / "results").exists()


def test_validate_list_and_run_ids_import_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from peft_rlvr_bench.suite import load_suite\n"
        "from peft_rlvr_bench.registry import REGISTRIES\n"
        f"suite = load_suite({str(REPO / 'suites' / 'tiny.yaml')!r})\n"
        "ids = [r.run_id for r in suite.runs] + [d.run_id for d in suite.derived]\n"
        "[r.names() for r in REGISTRIES.values()]\n"
        "heavy = [m for m in ('torch', 'trl', 'peft', 'lm_eval', 'transformers') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_select_suite_validates_and_dry_runs_its_selection_stage_first(tmp_path: Path) -> None:
    swept = GOOD.replace("lr: 1.0e-3}", "lr: [1.0e-3, 3.0e-3]}") + "select: {items: 20, seeds: [100]}\n"
    path = write(tmp_path, swept)
    done = run_cli("validate", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "(selection: 2 candidate runs, then 4 runs)" in done.stdout
    done = run_cli("run", str(path), "--dry-run", "--results-dir", str(tmp_path / "results"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "selection stage first: 2 candidate(s) on seeds [100]" in done.stdout
    assert "lora-lr1e-3-s100-" in done.stdout and "lora-lr3e-3-s100-" in done.stdout
    assert not (tmp_path / "results").exists()


def test_prb_run_exits_1_with_a_line_per_failed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from peft_rlvr_bench import runner
    from peft_rlvr_bench.cli import run_cli as prb
    from peft_rlvr_bench.reporting import leaderboard
    from peft_rlvr_bench.reporting.results import RunResult

    def result(run_id: str, status: str, reason: str | None) -> RunResult:
        return RunResult(suite="s", run_id=run_id, method="m", seed=0, status=status, reason=reason, spec={})

    ran = [
        result("a-s0-1", "failed", "disk full writing /x/model.safetensors: no space left"),
        result("b-s0-2", "diverged", "loss is nan"),
        result("c-s0-3", "ok", None),
        result("d-s0-4", "failed", "RuntimeError: boom"),
    ]
    monkeypatch.setattr(runner, "run_suite", lambda *a, **k: runner.SuiteOutcome(ran=ran))
    from peft_rlvr_bench.reporting.board import LeaderboardFiles

    board = tmp_path / "leaderboard.md"
    board.write_text("| table |\n")
    (tmp_path / "leaderboard.csv").write_text("method,n_seeds\n")
    files = LeaderboardFiles(board, tmp_path / "leaderboard.csv", tmp_path / "leaderboard.html")
    monkeypatch.setattr(leaderboard, "write_leaderboard", lambda *a, **k: files)
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))
    monkeypatch.chdir(REPO)
    code = prb(["run", "suites/smoke.yaml", "--results-dir", str(tmp_path / "results")])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert "failed: a-s0-1: disk full writing /x/model.safetensors: no space left" in err
    assert "failed: d-s0-4: RuntimeError: boom" in err
    assert err[-1].startswith("2 run(s) failed;") and "1 run(s) diverged" in "\n".join(err)

    monkeypatch.setattr(runner, "run_suite", lambda *a, **k: runner.SuiteOutcome(ran=ran[1:3]))
    assert prb(["run", "suites/smoke.yaml", "--results-dir", str(tmp_path / "results")]) == 0, (
        "diverged is a finding"
    )
