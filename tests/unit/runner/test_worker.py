"""The worker process a launch or Ray task runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_rlvr_bench.runner.launch import launch_command
from peft_rlvr_bench.suite import LaunchSpec


def test_worker_and_launcher_agree_on_arguments(tmp_path: Path) -> None:
    """The worker's parser accepts exactly what the launcher passes after ``-m ...worker``."""
    from peft_rlvr_bench.runner import worker

    command = launch_command(tmp_path / "spec.json", tmp_path, LaunchSpec(processes=2), cuda=False)
    with pytest.raises(FileNotFoundError):  # parsed fine, then reads the (missing) spec file
        worker.main(command[command.index("peft_rlvr_bench.runner.worker") + 1 :])
