"""A third-party package joins through the entry-point group, and its adapter runs in a suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from peft_rlvr_bench.reporting.results import load_result
from tests.helpers.paths import REPO

EXAMPLE = REPO / "examples" / "prb-plugin-example"

SUITE = """\
name: plugin-smoke
train_task: add
eval: {in_domain: [add], forgetting: [copy], n_items: 16}
recipe: {name: grpo, prompts_per_step: 2, num_generations: 4}
budget: {max_steps: 2}
seeds: [0]
adapters:
  - {name: lora_ln, r: 4, lr: 1.0e-3}
"""


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed into a private directory, as pip installs any package."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return target


def prb(*args: str, plugin_path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(plugin_path), str(REPO)]),
        "PRB_OUTPUTS_DIR": str(cwd / "outputs"),
    }
    return subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_plugin_is_listed_only_when_installed(plugin_path: Path, tmp_path: Path) -> None:
    listed = prb("list", "adapters", plugin_path=plugin_path, cwd=tmp_path)
    assert listed.returncode == 0 and "lora_ln" in listed.stdout.replace(",", " ").split()
    bare = subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", "list", "adapters"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "lora_ln" not in bare.stdout.replace(",", " ").split()


def test_the_plugin_adapter_runs_in_a_suite(plugin_path: Path, tmp_path: Path) -> None:
    (tmp_path / "plugin-smoke.yaml").write_text(SUITE)
    done = prb("run", "plugin-smoke.yaml", plugin_path=plugin_path, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    (result_file,) = (tmp_path / "results" / "plugin-smoke" / "runs").glob("lora_ln-*.json")
    result = load_result(result_file)
    assert result.status == "ok", result.reason
    assert result.trainable_params > 0 and len(result.train_curve) == 2
