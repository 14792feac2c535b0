"""Benchmark: wall time of ``prb run suites/tiny.yaml --force`` and where it goes (issue 9, benchmark 6).

Opt-in (``--bench-suite``, ``make bench-suite``): the tiny suite (3 methods and 2 controls x 5
seeds x 200 GRPO updates, 1000 items per task, in-domain avg@8, learning curves every 20 updates
on 300 items), run as ``make suite NAME=tiny`` runs it (``--jobs auto``: one run per core).
Goal: under 15 minutes on 2 cores.

The suite runs in a subprocess, as a user runs it, into a temporary results directory (and
``PRB_OUTPUTS_DIR``), from a warm tiny-world cache: the world is built, if needed, before the
clock starts, and ``world_build_seconds`` says how long that took (0 when cached). The phase
breakdown in ``extra_info`` sums the run results' ``timings`` over the base evaluation and every
run; ``unaccounted_seconds`` is the wall time outside any run (interpreter start-up, planning,
the progress display, the leaderboard), and ``leaderboard_seconds`` times ``prb leaderboard`` on
the finished results apart.

Quick mode runs a cut-down copy of the suite (two methods, one seed, 5 updates, 32 items, avg@2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from common import REPO, quick

PHASES = {
    "setup": ["setup", "load"],
    "training": ["train", "save", "merge"],
    "evaluation": ["eval", "eval_sampling", "eval_nll", "eval_kl"],
    "learning_curves": ["learning_curve", "prediction_curve"],
    "geometry": ["geometry"],
    "extrapolation": ["extrapolate"],
}
"""Result ``timings`` keys by reported phase; any other key is reported under its own name."""


def _suite_file(tmp_path: Path) -> Path:
    source = REPO / "suites" / "tiny.yaml"
    if not quick():
        return source
    data = yaml.safe_load(source.read_text())
    data["adapters"] = data["adapters"][:2]
    data["seeds"] = [0]
    data["budget"] = {"max_steps": 5}
    data["trajectory"] = {"every": 5}
    data["eval"] |= {"n_items": 32, "curve_items": 16, "sampling": {**data["eval"]["sampling"], "k": 2}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _prb(*args: str, env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "peft_rlvr_bench.cli", *args]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")


@pytest.mark.suite_walltime
def test_tiny_suite_wall_time(benchmark, tmp_path: Path) -> None:
    from peft_rlvr_bench.models import model_location
    from peft_rlvr_bench.suite import load_suite

    suite_file = _suite_file(tmp_path)
    suite = load_suite(suite_file)
    started = time.perf_counter()
    model_location(suite.spec.model)  # builds the tiny world when it is not cached
    world_build = time.perf_counter() - started
    results = tmp_path / "results"
    env = {**os.environ, "PRB_OUTPUTS_DIR": str(tmp_path / "outputs")}
    benchmark.group = f"suite wall time, {suite.spec.name}"
    benchmark.pedantic(
        lambda: _prb(
            "run", str(suite_file), "--force", "--jobs", "auto", "--results-dir", str(results), env=env
        ),
        rounds=1,
        iterations=1,
    )
    wall = benchmark.stats.stats.mean
    suite_dir = results / suite.spec.name
    files = [suite_dir / "base.json", *sorted((suite_dir / "runs").glob("*.json"))]
    timings: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    in_runs = 0.0
    for path in files:
        result = json.loads(path.read_text())
        statuses[result["status"]] += 1
        run_timings = result.get("timings") or {}
        in_runs += run_timings.get("total", sum(run_timings.values()))
        timings.update({key: value for key, value in run_timings.items() if key != "total"})
    phases = {phase: sum(timings.pop(key, 0.0) for key in keys) for phase, keys in PHASES.items()}
    phases |= dict(timings)
    clock = time.perf_counter()
    _prb("leaderboard", suite.spec.name, "--results-dir", str(results), env=env)
    benchmark.extra_info.update(
        suite=suite.spec.name,
        runs=len(suite.runs),
        derived_runs=len(suite.derived),
        methods=len(suite.spec.adapters),
        seeds=len(suite.spec.seeds),
        updates=suite.spec.budget.max_steps,
        statuses=dict(statuses),
        wall_seconds=wall,
        world_build_seconds=world_build,
        phase_seconds=phases,
        in_runs_seconds=in_runs,
        unaccounted_seconds=wall - in_runs,
        leaderboard_seconds=time.perf_counter() - clock,
    )
