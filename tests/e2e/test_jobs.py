"""``prb run --jobs 2``: runs side by side in worker processes, each unit after what it waits for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from peft_rlvr_bench.runner.pool import threads_per_job
from tests.helpers.paths import REPO

SUITE = """\
name: jobs
model: {name: tiny}
train_task: add
eval: {in_domain: [add], n_items: 16, kl_items: 0, loss_items: 0}
recipe: {name: grpo, prompts_per_step: 2, num_generations: 4, beta: 0.0}
budget: {max_steps: 2}
trajectory: {every: 1}
extrapolation:
  - {name: linear, observe: 1, target: 2}
seeds: [0]
adapters:
  - {name: full, lr: 1.0e-4}
  - {name: lora, r: 1, alpha: 2, lr: 1.0e-3}
"""


def test_threads_are_shared_out_and_never_zero() -> None:
    assert threads_per_job(2, cores=2) == 1
    assert threads_per_job(2, cores=16) == 8
    assert threads_per_job(4, cores=2) == 1


def test_two_jobs_finish_every_run_and_derived_runs_after_their_source(tmp_path: Path) -> None:
    (tmp_path / "jobs.yaml").write_text(SUITE)
    env = {**os.environ, "PRB_OUTPUTS_DIR": str(tmp_path / "outputs")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "peft_rlvr_bench.cli",
            "run",
            str(tmp_path / "jobs.yaml"),
            "--jobs",
            "2",
            "--results-dir",
            str(tmp_path / "results"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = [json.loads(p.read_text()) for p in (tmp_path / "results" / "jobs" / "runs").glob("*.json")]
    by_method = {r["method"]: r for r in results}
    assert set(by_method) == {"full", "lora", "full+linear@1", "lora+linear@1"}, sorted(by_method)
    assert all(r["status"] == "ok" for r in results), [(r["method"], r["reason"]) for r in results]
    # Each worker ran on its share of the cores, and says so.
    trained = [by_method["full"], by_method["lora"]]
    assert {r["environment"]["hardware"]["torch_threads"] for r in trained} == {threads_per_job(2)}


def test_jobs_must_be_a_count_or_auto(tmp_path: Path) -> None:
    import pytest

    from peft_rlvr_bench.errors import UserError
    from peft_rlvr_bench.runner.pool import parse_jobs
    from tests.helpers.suites import tiny_suite

    suite = tiny_suite(tmp_path, ["{name: full, lr: 1.0e-4}"])
    assert parse_jobs("3", suite) == 3
    assert parse_jobs("auto", suite) == (os.cpu_count() or 1)  # no GPU here: one run per core
    for bad in ("0", "-1", "two"):
        with pytest.raises(UserError, match=f"--jobs {bad}: give a whole number"):
            parse_jobs(bad, suite)


def test_a_worker_that_dies_fails_only_its_own_run(tmp_path: Path) -> None:
    """A SIGKILLed worker breaks the whole pool; every unit that was in it reruns alone, so the
    one that dies again alone is the one recorded as failed, and the others finish."""
    from peft_rlvr_bench.runner.plan import Plan, Work
    from peft_rlvr_bench.runner.pool import run_plan_in_pool
    from tests.helpers.pool_workers import finish_or_die
    from tests.helpers.suites import tiny_suite

    suite = tiny_suite(tmp_path, ["{name: full, lr: 1.0e-4}"])
    suite = suite.model_copy(
        update={"runs": [r.model_copy(update={"seed": s}) for r in suite.runs for s in (0, 1, 2)]}
    )
    plan = Plan(base=False, work=[Work(run) for run in suite.runs])
    seen: dict[str, str] = {}
    run_plan_in_pool(
        plan,
        suite,
        tmp_path / "results",
        2,
        lambda w, r: seen.update({w.run_id: r.status}),
        run_one=finish_or_die,
    )
    dead = next(run_id for run_id in seen if run_id.startswith("full-s1-"))
    assert seen.pop(dead) == "failed" and set(seen.values()) == {"ok"} and len(seen) == 2
    saved = json.loads((tmp_path / "results" / "faults" / "runs" / f"{dead}.json").read_text())
    assert saved["reason"].startswith("worker process died")
