"""Runs in processes of their own: when, the child's command, progress and failures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from peft_rlvr_bench.runner import isolate
from peft_rlvr_bench.suite import LaunchSpec


def test_isolation_follows_the_suite_else_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not isolate.isolation_wanted(None) and not isolate.isolation_wanted(LaunchSpec())
    assert isolate.isolation_wanted(LaunchSpec(isolate=True))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert isolate.isolation_wanted(None), "a CUDA machine runs each run in a process of its own"
    assert not isolate.isolation_wanted(LaunchSpec(isolate=False))


def test_the_worker_accepts_what_the_isolated_command_passes(tmp_path: Path) -> None:
    from peft_rlvr_bench.runner import worker

    command = isolate.isolated_command("derived", tmp_path / "spec.json", tmp_path)
    assert command[:3] == [sys.executable, "-m", "peft_rlvr_bench.runner.worker"]
    with pytest.raises(FileNotFoundError):  # parsed fine, then reads the (missing) spec file
        worker.main(command[3:])


CHILD = """
import sys, pathlib
print("loading", flush=True)
for step in (1, 2, 3):
    print("PROGRESS update", step, flush=True)
if sys.argv[1] == "ok":
    pathlib.Path(sys.argv[2]).write_text("{}")
else:
    print("CUDA out of memory", flush=True)
    sys.exit(3)
"""


@pytest.mark.parametrize("outcome", ["ok", "crash"])
def test_progress_reaches_the_parent_and_a_crash_names_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outcome: str
) -> None:
    result = tmp_path / "result.json"
    monkeypatch.setattr(
        isolate, "isolated_command", lambda *_: [sys.executable, "-c", CHILD, outcome, str(result)]
    )
    seen: list[int] = []
    done, reason = isolate.run_isolated("run", "{}", tmp_path / "run", result, tmp_path, seen.append)
    assert seen == [1, 2, 3]
    log = (tmp_path / "run" / "run.log").read_text()
    assert "loading" in log and "PROGRESS" not in log
    if outcome == "ok":
        assert done and reason == ""
    else:
        assert not done
        assert "exited with code 3" in reason and str(tmp_path / "run" / "run.log") in reason
        assert reason.endswith("last line: CUDA out of memory")
