"""Suites are found from any directory: ./suites first, then the ones shipped with the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from peft_rlvr_bench.suite import known_suites, resolve_suite_path
from tests.helpers.paths import REPO
from tests.helpers.suites import GOOD


def test_prb_list_suites_works_from_another_directory(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", "list", "suites"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    names = done.stdout.removeprefix("suites: ").strip().split(", ")
    assert {"tiny", "smoke", "claims"} <= set(names)


def test_the_working_directorys_suite_wins_over_the_shipped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "tiny.yaml").write_text(GOOD)
    (tmp_path / "suites" / "mine.yaml").write_text(GOOD)
    assert resolve_suite_path("tiny") == Path("suites") / "tiny.yaml"
    assert resolve_suite_path("smoke") == REPO / "suites" / "smoke.yaml"
    assert known_suites()["mine"] == Path("suites") / "mine.yaml"
