"""``prb run SUITE --dry-run``: the plan, offline, with its memory estimate (the formulas:
test_memory.py, test_architecture.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from peft_rlvr_bench.suite import DerivedRun, load_suite
from tests.helpers.paths import REPO

MATH = REPO / "suites" / "math-1.5b.yaml"


def prb(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_math_plan_lists_every_run_once_dependencies_first(tmp_path: Path) -> None:
    from peft_rlvr_bench.runner.plan import plan_suite

    suite = load_suite(MATH)
    plan = plan_suite(suite, tmp_path / "results")
    ids = [work.run_id for work in plan.work]
    expected = {r.run_id for r in suite.runs} | {d.run_id for d in suite.derived}
    assert len(ids) == len(set(ids)) == len(expected) and set(ids) == expected
    position = {run_id: i for i, run_id in enumerate(ids)}
    for work in plan.work:
        needs = (
            [work.run.source.run_id]
            if isinstance(work.run, DerivedRun)
            else list(work.run.dependencies.values())
        )
        assert all(position[need] < position[work.run_id] for need in needs)
        assert set(work.after) == set(needs)
    sparse = [w for w in plan.work if not isinstance(w.run, DerivedRun) and w.run.adapter.name == "sparse"]
    assert len(sparse) == 3 and all(w.run.dependencies["rl_delta"].startswith("full-") for w in sparse)


def test_cli_dry_run_prints_the_plan_without_downloading(tmp_path: Path) -> None:
    done = prb("run", "math-1.5b", "--dry-run", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    suite = load_suite(MATH)
    out = done.stdout
    assert "1.544B parameters (built-in table)" in out
    for run_id in [r.run_id for r in suite.runs] + [d.run_id for d in suite.derived]:
        assert out.count(run_id + " ") >= 1
    full_line = next(line for line in out.splitlines() if line.split()[1:2] == [suite.runs[0].run_id])
    total = float(full_line.split()[-1])
    assert 30 < total < 40, full_line  # 5.8 weights + 17.3 grads+AdamW (fp32) + activations
    assert not (tmp_path / "math-1.5b").exists(), "a dry run writes nothing"


def test_the_tiny_plan_counts_the_built_world_not_the_recipe_cap(tmp_path: Path) -> None:
    """The tiny world's tokenizer keeps 43 of the recipe's 96 vocabulary slots: full fine-tuning
    trains the 662,016 parameters its results record (the recipe alone said 668.80k)."""
    from peft_rlvr_bench.dry_run import render_plan

    suite = load_suite(REPO / "suites" / "tiny.yaml")
    plan = render_plan(suite, tmp_path / "results")
    assert "0.001B parameters (tiny world config.json)" in plan
    full = next(line for line in plan.splitlines() if f" {suite.runs[0].run_id} " in line)
    assert suite.runs[0].adapter.name == "full" and full.split()[3] == "662.14k", full


def test_dry_run_of_an_unknown_model_says_why_in_one_line(tmp_path: Path) -> None:
    done = prb(
        "run", "math-1.5b", "--dry-run", "--set", "model.name=my-org/mystery", "--results-dir", str(tmp_path)
    )
    assert done.returncode == 0
    assert "no memory estimate: model 'my-org/mystery': no local config.json" in done.stdout


def test_a_finished_suite_says_nothing_is_left_to_run(tmp_path: Path, monkeypatch) -> None:
    from peft_rlvr_bench.dry_run import render_plan
    from peft_rlvr_bench.runner import plan as plan_module

    suite = load_suite(REPO / "suites" / "tiny.yaml")
    finished = plan_module.Plan(base=False, skipped=[r.run_id for r in suite.runs])
    monkeypatch.setattr(plan_module, "plan_suite", lambda *args, **kwargs: finished)
    text = render_plan(suite, tmp_path)
    assert "nothing left to run" in text and "--force reruns them" in text
    assert "grads+adam" not in text  # no empty table under it


def test_dry_run_with_a_truncated_result_and_base_plans_them_again(tmp_path: Path) -> None:
    suite = load_suite(REPO / "suites" / "smoke.yaml")
    runs = tmp_path / "smoke" / "runs"
    runs.mkdir(parents=True)
    (runs / f"{suite.runs[0].run_id}.json").write_text('{"suite": "smoke", "run_')
    (tmp_path / "smoke" / "base.json").write_text("")
    done = prb("run", "smoke", "--dry-run", "--results-dir", str(tmp_path))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    notes = [line.strip() for line in done.stdout.splitlines() if "treated as missing" in line]
    assert len(notes) == 2 and notes[0].startswith(str(tmp_path / "smoke")), done.stdout


def test_the_dry_run_gives_disk_per_run_and_in_total(tmp_path: Path) -> None:
    from peft_rlvr_bench.disk_usage import recorded_updates, run_disk
    from peft_rlvr_bench.dry_run import render_plan

    assert (
        recorded_updates(200, 20) == 11 and recorded_updates(10, 3) == 5 and recorded_updates(10, None) == 0
    )
    full = run_disk(
        total_params=100,
        trainable=100,
        max_steps=10,
        trajectory_every=5,
        checkpoint_keep=2,
        rewrites_base=False,
    )
    assert (full.trajectory, full.final, full.checkpoints) == (3 * 400, 400, 2 * (1200 + 400))
    pissa = run_disk(
        total_params=100,
        trainable=10,
        max_steps=10,
        trajectory_every=5,
        checkpoint_keep=None,
        rewrites_base=True,
    )
    assert (pissa.trajectory, pissa.final, pissa.checkpoints) == (3 * 40, 2 * 40, 0)

    text = render_plan(load_suite(MATH), tmp_path / "results")
    suite = load_suite(MATH)
    full_line = next(line for line in text.splitlines() if line.split()[1:2] == [suite.runs[0].run_id])
    # 68 records of 1.54B fp32 deltas (every update to RELEX's window of 60, then every 20), the
    # model and 2 trainer checkpoints
    disk = float(full_line.split()[-2])
    assert 420 < disk < 460, full_line
    assert "GiB stay under $PRB_OUTPUTS_DIR after these runs" in text
    total = float(text.split("disk: ")[1].split(" GiB")[0])
    assert 1300 < total < 1600, "mostly the full runs' dense trajectories"
