"""Crash and resume: a `prb run` SIGKILLed in training, in evaluation and while writing its result
completes on rerun, bitwise as an uninterrupted run ends (one runner per run: test_lock.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.runner.lock import LOCK_FILE
from tests.helpers.paths import REPO

# 4 updates, a trainer checkpoint every 3 (and the last), a trajectory record every 2: killed
# after update 4's record but before its checkpoint, the run resumes from update 3 and takes
# record 4 again. In-domain eval only, 16 items.
SUITE = """\
name: resume
model: {name: tiny}
train_task: add
eval: {in_domain: [add], n_items: 16, kl_items: 0, loss_items: 0}
recipe: {name: grpo, prompts_per_step: 2, num_generations: 4, beta: 0.0}
budget: {max_steps: 4}
trajectory: {every: 2}
checkpoint: {every: 3, keep: 1}
seeds: [0]
adapters:
  - {name: full, lr: 1.0e-4}
"""


def prb_run(root: Path, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRB_OUTPUTS_DIR": str(root / "outputs")}
    env.pop("PRB_TEST_KILL_AT", None)
    if kill_at is not None:
        env["PRB_TEST_KILL_AT"] = kill_at
    (root / "resume.yaml").write_text(SUITE)
    command = ["run", str(root / "resume.yaml"), "--results-dir", str(root / "results")]
    return subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", *command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def the_result(root: Path) -> dict[str, Any]:
    (path,) = (root / "results" / "resume" / "runs").glob("*.json")
    return json.loads(path.read_text())


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """Everything a run measured, without wall times and provenance."""
    curve = [{k: v for k, v in step.items() if k != "step_seconds"} for step in result["train_curve"]]
    keys = ("status", "metrics", "learning_curve", "geometry", "kl_to_base", "verifier_faults", "run_id")
    return {"train_curve": curve, **{key: result[key] for key in keys}}


def run_dir(root: Path) -> Path:
    (directory,) = (root / "outputs" / "resume").iterdir()
    return directory


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("uninterrupted")
    done = prb_run(root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def test_killed_in_training_evaluation_and_writing_completes_bitwise_on_rerun(
    reference: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    base = tmp_path / "results" / "resume" / "base.json"  # the same base evaluation: not redone
    base.parent.mkdir(parents=True)
    base.write_bytes((reference / "results" / "resume" / "base.json").read_bytes())
    killed = prb_run(tmp_path, kill_at="train:4")
    assert killed.returncode == -9, killed.stderr[-3000:]
    directory = run_dir(tmp_path)
    assert [p.name for p in (directory / "trainer").glob("checkpoint-*")] == ["checkpoint-3"]
    assert (directory / "trajectory" / "update_000004.safetensors").exists(), "went on past the checkpoint"
    assert not (tmp_path / "results" / "resume" / "runs").exists()

    killed = prb_run(tmp_path, kill_at="evaluate")
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert "stale lock" in killed.stderr and "taking it over" in killed.stderr
    assert "resuming from" in killed.stderr and "checkpoint-3" in killed.stderr
    assert (directory / "final").is_dir() and not (tmp_path / "results" / "resume" / "runs").exists()

    killed = prb_run(tmp_path, kill_at="write:*-s0-*.json")
    assert killed.returncode == -9, killed.stderr[-3000:]
    runs = tmp_path / "results" / "resume" / "runs"
    assert not list(runs.glob("*.json")) and list(runs.glob(".*.tmp")), "killed between write and rename"
    samples = tmp_path / "results" / "resume" / "samples"
    assert [p.name for p in samples.glob("*-s0-*")] == [f"{run_dir(tmp_path).name}.jsonl.gz"], "answers first"
    assert "checkpoint-4" in killed.stderr, "the final checkpoint is kept until the result is written"

    done = prb_run(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert comparable(the_result(tmp_path)) == comparable(the_result(reference))
    assert not list(runs.glob(".*.tmp")) and not (directory / LOCK_FILE).exists()
    assert (samples / f"{directory.name}.jsonl.gz").read_bytes() == (
        reference / "results" / "resume" / "samples" / f"{directory.name}.jsonl.gz"
    ).read_bytes(), "the rerun rewrote the same answers"
    assert not (directory / "trainer").exists(), "checkpoints go once the result is written"
    resumed, uninterrupted = directory / "trajectory", run_dir(reference) / "trajectory"
    assert json.loads((resumed / "manifest.json").read_text()) == json.loads(
        (uninterrupted / "manifest.json").read_text()
    )
    for update in (0, 2, 4):
        name = f"update_{update:06d}.safetensors"
        a, b = load_file(resumed / name), load_file(uninterrupted / name)
        assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a), name
    a, b = (
        load_file(directory / "final" / "model.safetensors"),
        load_file(run_dir(reference) / "final" / "model.safetensors"),
    )
    assert all(a[k].equal(b[k]) for k in a)
