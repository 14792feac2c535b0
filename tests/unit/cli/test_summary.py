"""What ``prb run`` prints at the end: a compact table and the written files, not leaderboard.md."""

from __future__ import annotations

from pathlib import Path

from peft_rlvr_bench.cli.summary import render_run_summary
from peft_rlvr_bench.reporting.leaderboard import write_leaderboard
from tests.helpers import hand_results


def test_the_run_summary_is_a_few_columns_and_the_paths(tmp_path: Path) -> None:
    suite_dir = hand_results.write_suite(tmp_path, hand_results.base(), hand_results.runs())
    files = write_leaderboard(suite_dir, hand_results.SUITE)
    text = render_run_summary(files)
    lines = text.splitlines()
    assert lines[0].split() == ["method", "seeds", "in-domain", "out-of-domain", "forgetting", "trainable"]
    lora = next(line for line in lines if line.startswith("lora"))
    assert lora.split() == ["lora", "3", "0.600", "0.450", "0.050", "662,400"]
    assert all(str(path) in text for path in files)
    assert "![" not in text and "Glossary" not in text and len(lines) < 15


def test_prb_run_ends_with_the_summary_not_the_markdown(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    import peft_rlvr_bench.reporting.leaderboard as leaderboard
    import peft_rlvr_bench.runner as runner
    from peft_rlvr_bench.cli import app
    from tests.helpers.suites import GOOD, write

    suite_dir = hand_results.write_suite(tmp_path, hand_results.base(), hand_results.runs())
    files = write_leaderboard(suite_dir, hand_results.SUITE)
    monkeypatch.setattr(runner, "run_suite", lambda *args, **kwargs: runner.SuiteOutcome())
    monkeypatch.setattr(leaderboard, "write_leaderboard", lambda *args, **kwargs: files)
    outcome = CliRunner().invoke(app, ["run", str(write(tmp_path, GOOD)), "--results-dir", str(tmp_path)])
    assert outcome.exit_code == 0, outcome.output
    assert outcome.stdout == render_run_summary(files) + "\n"
