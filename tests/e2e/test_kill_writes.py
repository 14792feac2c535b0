"""A `prb run` SIGKILLed while writing base.json, its samples or a leaderboard file leaves a
temporary file; the rerun removes every one of them, anywhere under results/<suite>/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

pytestmark = pytest.mark.e2e

SUITE = """\
name: killwrites
train_task: add
eval: {in_domain: [add], n_items: 8, kl_items: 0, loss_items: 0}
recipe: {name: grpo, prompts_per_step: 2, num_generations: 2, beta: 0.0}
budget: {max_steps: 1}
seeds: [0]
adapters:
  - {name: lora, r: 2, lr: 1.0e-3}
"""


def prb_run(root: Path, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRB_OUTPUTS_DIR": str(root / "outputs"), "OMP_NUM_THREADS": "1"}
    env.pop("PRB_TEST_KILL_AT", None)
    if kill_at is not None:
        env["PRB_TEST_KILL_AT"] = kill_at
    (root / "killwrites.yaml").write_text(SUITE)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "peft_rlvr_bench.cli",
            "run",
            str(root / "killwrites.yaml"),
            "--results-dir",
            str(root / "results"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def temporaries(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "results").rglob("*.tmp"))


def test_killed_while_writing_base_samples_and_leaderboard_leaves_nothing_after_the_rerun(
    tmp_path: Path,
) -> None:
    suite_dir = tmp_path / "results" / "killwrites"
    for kill_at, left in [
        ("write:base.jsonl.gz", ".base.jsonl.gz."),
        ("write:base.json", ".base.json."),
        ("write:leaderboard.md", ".leaderboard.md."),
        ("write:leaderboard.html", ".leaderboard.html."),
    ]:
        killed = prb_run(tmp_path, kill_at)
        assert killed.returncode == -9, killed.stderr[-3000:]
        found = temporaries(tmp_path)
        assert len(found) == 1 and found[0].startswith(left), (kill_at, found)
    assert (suite_dir / "base.json").is_file() and (suite_dir / "leaderboard.md").is_file()

    done = prb_run(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert temporaries(tmp_path) == []
    assert (suite_dir / "leaderboard.html").is_file()
