"""``prb export-tasks``: real lm-eval task files that lm-eval's own TaskManager indexes."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from peft_rlvr_bench.cli import app
from tests.helpers.suites import GOOD, write


def test_export_tasks_writes_tasks_lm_eval_finds(tmp_path: Path) -> None:
    from lm_eval.tasks import TaskManager

    suite = write(tmp_path, GOOD)
    out = tmp_path / "tasks"
    outcome = CliRunner().invoke(app, ["export-tasks", str(suite), str(out)])
    assert outcome.exit_code == 0, outcome.output
    assert sorted(p.name for p in out.glob("*.yaml")) == ["prb_add.yaml", "prb_copy.yaml"]
    text = (out / "prb_add.yaml").read_text()
    assert "REPLACED_AT_RUNTIME" not in text and "TASK_SET_AT_RUNTIME" not in text
    assert "process_results: !function 'scoring.process_results'" in text
    data = yaml.safe_load(text.replace("!function", ""))["dataset_kwargs"]["data_files"]["test"]
    assert Path(data) == (out / "data" / "prb_add.jsonl").resolve() and Path(data).is_file()
    assert {"prb_add", "prb_copy"} <= set(
        TaskManager(include_path=str(out), include_defaults=False).all_tasks
    )


def test_export_tasks_refuses_a_file_as_the_folder(tmp_path: Path) -> None:
    suite = write(tmp_path, GOOD)
    (tmp_path / "taken").write_text("x")
    outcome = CliRunner().invoke(app, ["export-tasks", str(suite), str(tmp_path / "taken")])
    assert outcome.exit_code == 2 and "is a file" in outcome.output
