"""Result files: atomic writes, what they hold, and results written by earlier versions still load."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.reporting import atomic as atomic_module
from peft_rlvr_bench.reporting.results import (
    RoleScore,
    TaskScore,
    load_result,
    save_result,
)
from tests.helpers import hand_results
from tests.helpers.paths import REPO

# A full disk -----------------------------------------------------------------------------------


def _no_space(path: Any, *args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_result_write_on_a_full_disk_leaves_the_previous_result_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft_rlvr_bench.cli import run_cli

    suite_dir = hand_results.write_suite(tmp_path, hand_results.base(), hand_results.runs()[:2])
    path = next((suite_dir / "runs").glob("*.json"))
    before = path.read_bytes()

    real_fdopen = atomic_module.os.fdopen

    class HalfWritten:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> HalfWritten:
            return self

        def __exit__(self, *exc: Any) -> None:
            self.handle.close()

        def write(self, text: str) -> None:
            self.handle.write(text[: len(text) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_module.os, "fdopen", lambda fd, *a, **k: HalfWritten(real_fdopen(fd, *a, **k)))
    with pytest.raises(OSError, match="No space left"):
        save_result(hand_results.result("lora", 0, 0.9, 0.9, 0.9), path)
    assert path.read_bytes() == before and json.loads(before)
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == [], "no temporary left"
    code = run_cli(["leaderboard", "hand", "--results-dir", str(tmp_path)])
    assert code == 1
    assert path.read_bytes() == before


def test_the_cli_reports_a_full_disk_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from peft_rlvr_bench.cli import run_cli

    hand_results.write_suite(tmp_path, hand_results.base(), hand_results.runs()[:2])
    monkeypatch.setattr(atomic_module.os, "fdopen", lambda fd, *a, **k: _no_space("leaderboard.md"))
    assert run_cli(["leaderboard", "hand", "--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "intact" in err
    assert err.startswith(f"error: {tmp_path / 'hand' / 'leaderboard.md'}: disk full (no space left on /"), (
        err
    )


def test_role_scores_average_the_depth_figures_only_when_every_task_has_them() -> None:
    a = TaskScore(accuracy=0.5, n=10, k=4, avg_at_k=0.4, pass_at_k=0.8, nll=1.0)
    b = TaskScore(accuracy=1.0, n=10, k=4, avg_at_k=0.6, pass_at_k=1.0, nll=3.0)
    role = RoleScore.from_tasks({"a": a, "b": b})
    assert (role.k, role.avg_at_k, role.pass_at_k, role.nll) == (4, 0.5, 0.9, 2.0)
    partial = RoleScore.from_tasks({"a": a, "c": TaskScore(accuracy=1.0, n=10)})
    assert (partial.k, partial.avg_at_k, partial.pass_at_k, partial.nll) == (None, None, None, None)


def test_results_written_before_the_depth_fields_still_load() -> None:
    # A result committed before these fields existed (results/tiny-rank1), kept as a fixture.
    result = load_result(REPO / "tests" / "fixtures" / "legacy_result_before_depth_fields.json")
    assert result.kl_to_base is None
    assert all(role.nll is None and role.pass_at_k is None for role in result.metrics.values())


@pytest.mark.parametrize("fixture", sorted((REPO / "tests" / "fixtures").glob("legacy_*.json")))
def test_results_written_before_per_item_scores_still_load(fixture: Path) -> None:
    result = load_result(fixture)
    tasks = [task for role in result.metrics.values() for task in role.tasks.values()]
    assert tasks and all(
        t.items is None and t.sampled_items is None and t.items_digest is None for t in tasks
    )


def test_results_written_before_environments_still_load() -> None:
    legacy = load_result(REPO / "tests" / "fixtures" / "legacy_result_before_depth_fields.json")
    assert legacy.environment is None
    committed = load_result(REPO / "results" / "tiny" / "base.json")
    assert committed.versions["transformers"]


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_atomic_writes_follow_the_umask_not_mkstemps_0600(tmp_path: Path, umask: int) -> None:
    import os
    import stat

    from peft_rlvr_bench.reporting.samples import write_samples

    old = os.umask(umask)
    try:
        atomic_module.write_text_atomic(tmp_path / "a.md", "x\n")
        write_samples(tmp_path / "s.jsonl.gz", [])
    finally:
        os.umask(old)
    for name in ("a.md", "s.jsonl.gz"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
