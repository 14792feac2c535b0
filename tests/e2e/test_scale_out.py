"""Scale-out end to end on CPU processes: a launched run, the Ray backend, FSDP2 gathering (slow tier)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.reporting.results import RunResult, load_result, run_result_path
from peft_rlvr_bench.suite import load_suite
from tests.helpers.paths import REPO
from tests.helpers.suites import write_scale_suite

# ------------------------------------------------------------------------------------------------
# End to end (slow): two gloo processes; Ray against the local backend


def prb(*args: str, outputs: Path, threads: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRB_OUTPUTS_DIR": str(outputs)}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.mark.slow
@pytest.mark.e2e
def test_a_run_trains_across_two_cpu_processes_and_rank_0_writes_once(tmp_path: Path) -> None:
    path = write_scale_suite(
        tmp_path,
        name="two-procs",
        adapters=[{"name": "lora", "r": 4, "alpha": 8, "lr": 1.0e-3}],
        extrapolation=[],
        launch={"processes": 2, "strategy": "ddp"},
    )
    (run,) = load_suite(path).runs
    outputs, results = tmp_path / "outputs", tmp_path / "results"
    done = prb("run", str(path), "--results-dir", str(results), outputs=outputs)
    assert done.returncode == 0, done.stderr[-3000:]

    result = load_result(run_result_path(results, "two-procs", run.run_id))
    assert result.status == "ok", result.reason
    assert result.launch == {"strategy": "ddp", "world_size": 2}
    assert [step.step for step in result.train_curve] == [1, 2, 3]
    assert [point.update for point in result.learning_curve] == [0, 1, 2, 3]
    log = (outputs / "two-procs" / run.run_id / "launch.log").read_text()
    assert log.count("wrote ") == 1, "rank 0 alone writes the result"
    manifest = json.loads((outputs / "two-procs" / run.run_id / "trajectory" / "manifest.json").read_text())
    assert [record["update"] for record in manifest["records"]] == [0, 1, 2, 3], "one recorder, rank 0"
    assert (outputs / "two-procs" / run.run_id / "final" / "adapter_config.json").exists()
    assert sorted(p.name for p in (results / "two-procs" / "runs").iterdir()) == [f"{run.run_id}.json"]


def comparable(result: RunResult) -> dict[str, Any]:
    """A result less what legitimately differs between two executions: timings and provenance."""
    data = result.model_dump(
        mode="json", exclude={"timings", "peak_memory_mb", "versions", "git", "created_at"}
    )
    for step in data["train_curve"]:
        step.pop("step_seconds")
    return data


@pytest.mark.slow
@pytest.mark.e2e
def test_the_ray_backend_writes_what_the_local_backend_writes(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    path = write_scale_suite(tmp_path)
    suite = load_suite(path)
    local_results, ray_results = tmp_path / "local", tmp_path / "ray"
    # One thread per run on both sides: Ray gives a task of one CPU OMP_NUM_THREADS=1.
    done = prb("run", str(path), "--results-dir", str(local_results), outputs=tmp_path / "o1", threads=1)
    assert done.returncode == 0, done.stderr[-3000:]

    from peft_rlvr_bench.runner.ray_backend import run_suite_ray

    os.environ["PRB_OUTPUTS_DIR"] = str(tmp_path / "o2")
    try:
        ray.init(num_cpus=2, include_dashboard=False)
        outcome = run_suite_ray(suite, ray_results, cpus_per_run=1)
    finally:
        ray.shutdown()
        del os.environ["PRB_OUTPUTS_DIR"]

    ids = sorted([*(r.run_id for r in suite.runs), *(d.run_id for d in suite.derived)])
    assert sorted(r.run_id for r in outcome.ran) == ids
    for results in (local_results, ray_results):
        assert sorted(p.stem for p in (results / "scale" / "runs").glob("*.json")) == ids
    for run_id in ids:
        local = load_result(run_result_path(local_results, "scale", run_id))
        remote = load_result(run_result_path(ray_results, "scale", run_id))
        assert local.status == remote.status == "ok", (local.reason, remote.reason)
        assert comparable(remote) == comparable(local), run_id
    assert comparable(load_result(ray_results / "scale" / "base.json")) == comparable(
        load_result(local_results / "scale" / "base.json")
    )


# ------------------------------------------------------------------------------------------------
# Sharded strategies: whole weights gathered onto rank 0, loaded into a fresh adapted model

FSDP2_SCRIPT = """
import sys, torch, torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from peft_rlvr_bench.rlvr.sharded import gather_whole_state

dist.init_process_group("gloo")
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
whole = {name: p.detach().clone() for name, p in model.named_parameters()}
mesh = init_device_mesh("cpu", (dist.get_world_size(),))
for layer in (model[0], model[2], model):
    fully_shard(layer, mesh=mesh)
assert all(p.to_local().shape != whole[n].shape for n, p in model.named_parameters() if n.endswith("weight"))
state = gather_whole_state(model)
if dist.get_rank() == 0:
    assert sorted(state) == sorted(whole) and all(torch.equal(state[n], whole[n]) for n in whole)
    print("gathered whole")
else:
    assert state is None
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_fsdp2_shards_are_gathered_whole_onto_rank_0(tmp_path: Path) -> None:
    script = tmp_path / "fsdp2_gather.py"
    script.write_text(FSDP2_SCRIPT)
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script)],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("gathered whole") == 1
