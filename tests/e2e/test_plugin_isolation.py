"""A broken plugin package installed next to prb: every command that does not need it works.

The packages are installed the way pip leaves them (a module plus its ``*.dist-info`` with an
``entry_points.txt``) in a private directory on ``PYTHONPATH``, and ``prb`` runs in a real process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

pytestmark = pytest.mark.e2e

SUITE = """\
name: isolated
train_task: add
eval: {in_domain: [add], n_items: 8}
recipe: {name: grpo, prompts_per_step: 2, num_generations: 2}
budget: {max_steps: 1}
seeds: [0]
adapters:
  - {name: lora, r: 2, lr: 1.0e-3}
"""


def install(site: Path, package: str, source: str) -> None:
    module = package.replace("-", "_")
    (site / f"{module}.py").write_text(source)
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[peft_rlvr_bench.plugins]\n{module} = {module}\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    install(site, "prb-broken", "raise RuntimeError('this plugin is broken')\n")
    install(
        site,
        "prb-clashing",
        "from peft_rlvr_bench.registry import register_adapter\n"
        "@register_adapter('full')\n"
        "class NotFull:\n"
        "    pass\n",
    )
    return site


def prb(*args: str, site: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
        "PRB_OUTPUTS_DIR": str(cwd / "outputs"),
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_broken_plugin_is_one_line_and_validation_works(site: Path, tmp_path: Path) -> None:
    (tmp_path / "isolated.yaml").write_text(SUITE)
    done = prb("validate", "isolated.yaml", site=site, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: isolated.yaml")
    assert "Traceback" not in done.stderr
    (warning,) = done.stderr.splitlines()
    assert "prb-broken" in warning and "RuntimeError: this plugin is broken" in warning


def test_a_clash_is_an_error_only_where_the_name_is_used_or_listed(site: Path, tmp_path: Path) -> None:
    (tmp_path / "isolated.yaml").write_text(SUITE.replace("name: lora, r: 2", "name: full"))
    used = prb("validate", "isolated.yaml", site=site, cwd=tmp_path)
    assert used.returncode == 2
    assert used.stderr.splitlines()[-1].startswith("error: ")
    assert "'full' is registered by both peft-rlvr-bench (built-in) and prb-clashing" in used.stderr
    listed = prb("list", "adapters", site=site, cwd=tmp_path)
    assert listed.returncode == 2 and "prb-clashing" in listed.stderr
    assert prb("list", "recipes", site=site, cwd=tmp_path).returncode == 0


def test_a_suite_that_does_not_use_the_plugins_runs(site: Path, tmp_path: Path) -> None:
    (tmp_path / "isolated.yaml").write_text(SUITE)
    done = prb("run", "isolated.yaml", site=site, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert len(list((tmp_path / "results" / "isolated" / "runs").glob("lora-*.json"))) == 1
