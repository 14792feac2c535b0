"""One runner per run: lock files, and stale locks taken over with a message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.runner.lock import LOCK_FILE, run_lock


def test_a_live_runner_holds_its_run(tmp_path: Path) -> None:
    with run_lock(tmp_path, "r1"):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
        with pytest.raises(UserError, match=rf"is being run by pid {os.getpid()}"), run_lock(tmp_path, "r1"):
            pass
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_stale_lock_is_taken_over_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    pid = int(dead.stdout)
    (tmp_path / LOCK_FILE).write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "since": "x"}))
    with run_lock(tmp_path, "r1"):
        pass
    assert f"stale lock {tmp_path / LOCK_FILE} (pid {pid}" in capsys.readouterr().err
    (tmp_path / LOCK_FILE).write_text(json.dumps({"host": "elsewhere", "pid": 1, "since": "x"}))
    with pytest.raises(UserError, match="on elsewhere"), run_lock(tmp_path, "r1"):
        pass
