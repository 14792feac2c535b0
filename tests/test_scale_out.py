"""Scale-out: one run across processes (accelerate launch), many runs as Ray tasks, one shared plan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.results import RunResult, load_result, run_result_path, save_result
from peft_rlvr_bench.runner.launch import CONFIGS, accelerate_config, launch_command
from peft_rlvr_bench.runner.plan import plan_suite
from peft_rlvr_bench.suite import LaunchSpec, load_suite

REPO = Path(__file__).resolve().parents[1]

SUITE = {
    "name": "scale",
    "model": {"name": "tiny"},
    "train_task": "add",
    "eval": {"in_domain": ["add"], "out_of_domain": ["add_words"], "forgetting": ["copy"], "n_items": 16},
    "recipe": {"name": "grpo", "prompts_per_step": 2, "num_generations": 4, "beta": 0.04},
    "budget": {"max_steps": 3},
    "trajectory": {"every": 1},
    "seeds": [0],
    "adapters": [
        {"name": "full", "lr": 1.0e-4},
        {"name": "sparse", "mask": "rl_delta", "lr": 1.0e-4, "label": "sparse-rl"},
    ],
    "extrapolation": [{"name": "relex", "observe": 2, "target": 3}],
}


def write_suite(tmp_path: Path, **changes: Any) -> Path:
    data = {**SUITE, **changes}
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ------------------------------------------------------------------------------------------------
# The launch spec: validated, and never part of a run id


def test_launch_settings_leave_every_run_id_unchanged(tmp_path: Path) -> None:
    plain = load_suite(write_suite(tmp_path))
    launched = load_suite(
        write_suite(tmp_path, name="launched", launch={"processes": 2, "strategy": "zero2"})
    )
    assert [r.run_id for r in plain.runs] == [r.run_id for r in launched.runs]
    assert [d.run_id for d in plain.derived] == [d.run_id for d in launched.derived]
    assert launched.spec.launch == LaunchSpec(processes=2, strategy="zero2")


@pytest.mark.parametrize(
    ("launch", "changes", "message"),
    [
        ({"processes": 2, "strategy": "zero4"}, {}, "launch.strategy: Input should be 'ddp', 'zero2'"),
        ({"processes": 0}, {}, "launch.processes: Input should be greater than or equal to 1"),
        ({"processes": 3}, {}, "launch.processes: recipe 'grpo': prompts_per_step x num_generations (8)"),
        ({"processes": 2, "strategy": "zero3"}, {}, "launch.strategy: zero3 shards the weights"),
        ({"processes": 2, "strategy": "fsdp"}, {}, "launch.strategy: fsdp shards the weights"),
        ({"processes": 2, "threads": 4}, {}, "launch.threads: unknown field"),
    ],
)
def test_bad_launch_settings_are_one_located_line(
    tmp_path: Path, launch: dict[str, Any], changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(UserError, match="launch") as caught:
        load_suite(write_suite(tmp_path, launch=launch, **changes))
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{tmp_path / 'scale.yaml'}:")


def test_sharded_strategies_validate_without_a_trajectory(tmp_path: Path) -> None:
    suite = load_suite(
        write_suite(tmp_path, trajectory=None, extrapolation=[], launch={"processes": 8, "strategy": "zero3"})
    )
    assert suite.spec.launch is not None and suite.spec.launch.strategy == "zero3"


def test_each_process_gets_its_share_of_the_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.rlvr.recipes import GRPO, RecipeParams
    from peft_rlvr_bench.rlvr.train import trainer_config

    params = RecipeParams(prompts_per_step=2, num_generations=4)
    assert GRPO().config_fields(params)["per_device_train_batch_size"] == 8
    assert GRPO().config_fields(params, processes=2)["per_device_train_batch_size"] == 4
    with pytest.raises(ValueError, match="does not split evenly over 3 processes"):
        GRPO().config_fields(params, processes=3)
    # A launched process trains with its share and records it; the run id keeps the whole batch.
    run = load_suite(write_suite(tmp_path)).runs[0]
    run_id = run.run_id
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert trainer_config(run, RunContext(), tmp_path)["per_device_train_batch_size"] == 4
    assert run.run_id == run_id


# ------------------------------------------------------------------------------------------------
# The launch command


def test_the_launch_command_is_an_argument_list_with_the_strategys_config(tmp_path: Path) -> None:
    spec_file, results = tmp_path / "run spec.json", tmp_path / "results"
    command = launch_command(spec_file, results, LaunchSpec(processes=8, strategy="zero3"), cuda=True)
    assert command[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    flags = dict(zip(command[3:9:2], command[4:9:2], strict=True))
    assert flags == {
        "--config_file": str(CONFIGS / "zero3.yaml"),
        "--num_processes": "8",
        "--main_process_port": "0",
    }
    assert command[9:] == [
        "-m",
        "peft_rlvr_bench.runner.worker",
        "--spec",
        str(spec_file),  # one argument, spaces and all: no shell in between
        "--results-dir",
        str(results),
        "--strategy",
        "zero3",
    ]


def test_config_choice_follows_the_strategy_and_the_machine() -> None:
    for strategy in ("ddp", "zero2", "zero3", "fsdp"):
        assert accelerate_config(strategy, cuda=True) == CONFIGS / f"{strategy}.yaml"
    assert accelerate_config("ddp", cuda=False) == CONFIGS / "cpu.yaml"
    with pytest.raises(UserError, match="'zero2' needs GPUs"):
        accelerate_config("zero2", cuda=False)


def test_shipped_accelerate_configs_name_their_backend() -> None:
    expected = {
        "cpu": ("MULTI_GPU", True),  # torchrun ranks; the trainer's use_cpu picks gloo
        "ddp": ("MULTI_GPU", False),
        "zero2": ("DEEPSPEED", False),
        "zero3": ("DEEPSPEED", False),
        "fsdp": ("FSDP", False),
    }
    assert sorted(p.stem for p in CONFIGS.glob("*.yaml")) == sorted(expected)
    for name, (distributed_type, use_cpu) in expected.items():
        config = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
        assert (config["distributed_type"], config["use_cpu"]) == (distributed_type, use_cpu)
        assert "gradient_clipping" not in config.get("deepspeed_config", {}), "left to the recipe (auto)"
    assert yaml.safe_load((CONFIGS / "zero2.yaml").read_text())["deepspeed_config"]["zero_stage"] == 2
    assert yaml.safe_load((CONFIGS / "zero3.yaml").read_text())["deepspeed_config"]["zero_stage"] == 3


def test_worker_and_launcher_agree_on_arguments(tmp_path: Path) -> None:
    """The worker's parser accepts exactly what the launcher passes after ``-m ...worker``."""
    from peft_rlvr_bench.runner import worker

    command = launch_command(tmp_path / "spec.json", tmp_path, LaunchSpec(processes=2), cuda=False)
    with pytest.raises(FileNotFoundError):  # parsed fine, then reads the (missing) spec file
        worker.main(command[command.index("peft_rlvr_bench.runner.worker") + 1 :])


# ------------------------------------------------------------------------------------------------
# The plan both backends share


def fake_result(run_id: str) -> RunResult:
    return RunResult(suite="scale", run_id=run_id, method="m", seed=0, status="ok", spec={})


def test_the_plan_orders_dependencies_and_skips_finished_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))
    suite = load_suite(write_suite(tmp_path))
    full, sparse = suite.runs
    relex_full, relex_sparse = suite.derived
    results = tmp_path / "results"

    plan = plan_suite(suite, results)
    assert plan.base and plan.skipped == []
    assert [(w.run_id, w.after, w.counted) for w in plan.work] == [
        (full.run_id, (), True),
        (sparse.run_id, (full.run_id,), True),
        (relex_full.run_id, (full.run_id,), True),
        (relex_sparse.run_id, (sparse.run_id,), True),
    ]

    # Both trained runs finished, their outputs on disk: only the extrapolations are left.
    for run in suite.runs:
        save_result(fake_result(run.run_id), run_result_path(results, "scale", run.run_id))
        trajectory = tmp_path / "outputs" / "scale" / run.run_id / "trajectory"
        trajectory.mkdir(parents=True)
        (trajectory / "manifest.json").write_text("{}")
        (trajectory.parent / "final").mkdir()
    plan = plan_suite(suite, results)
    assert plan.skipped == [full.run_id, sparse.run_id]
    assert [(w.run_id, w.after) for w in plan.work] == [(relex_full.run_id, ()), (relex_sparse.run_id, ())]

    # A fresh clone: results committed, checkpoints not. The sparse run reruns, and the full run
    # it builds on is redone first for its weights (not counted as a run of this invocation).
    import shutil

    shutil.rmtree(tmp_path / "outputs")
    for derived in suite.derived:
        save_result(fake_result(derived.run_id), run_result_path(results, "scale", derived.run_id))
    run_result_path(results, "scale", sparse.run_id).unlink()
    plan = plan_suite(suite, results)
    assert [(w.run_id, w.after, w.counted) for w in plan.work] == [
        (full.run_id, (), False),
        (sparse.run_id, (full.run_id,), True),
    ]
    assert [w.run_id for w in plan_suite(suite, results, force=True).work] == [
        full.run_id,
        sparse.run_id,
        relex_full.run_id,
        relex_sparse.run_id,
    ]


def test_ray_tasks_ask_for_the_gpus_their_run_uses(tmp_path: Path) -> None:
    from peft_rlvr_bench.runner.plan import Work
    from peft_rlvr_bench.runner.ray_backend import task_gpus

    plain = load_suite(write_suite(tmp_path))
    launched = load_suite(write_suite(tmp_path, name="l", launch={"processes": 4, "strategy": "zero2"}))
    trained, derived = Work(launched.runs[0]), Work(launched.derived[0])
    assert task_gpus(launched, trained, cluster_has_gpus=True) == 4
    assert task_gpus(launched, derived, cluster_has_gpus=True) == 1, "extrapolations run in one process"
    assert task_gpus(launched, None, cluster_has_gpus=True) == 1, "the base evaluation"
    assert task_gpus(plain, Work(plain.runs[0]), cluster_has_gpus=True) == 1
    assert task_gpus(plain, Work(plain.runs[0]), cluster_has_gpus=False) == 0
    assert task_gpus(launched, trained, cluster_has_gpus=False) == 0


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
    path = write_suite(
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
    path = write_suite(tmp_path)
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


def test_rank_0_rebuilds_the_trained_model_from_gathered_weights() -> None:
    import torch

    from peft_rlvr_bench.adapters import ApplyContext
    from peft_rlvr_bench.registry import ADAPTERS
    from peft_rlvr_bench.rlvr.sharded import gather_whole_state, load_whole_state
    from tests.tiny_models import tiny_llama

    adapter = ADAPTERS.get("pissa")()  # a residual init: the base weights change too
    params = adapter.Params.model_validate({"r": 2})
    trained = adapter.apply(tiny_llama(0), params, ApplyContext())
    with torch.no_grad():
        for parameter in trained.parameters():
            if parameter.requires_grad:
                parameter.add_(0.01 * torch.randn_like(parameter))
    state = gather_whole_state(trained)  # one process: it is rank 0 and nothing is sharded
    assert state is not None
    rebuilt = load_whole_state(adapter.apply(tiny_llama(0), params, ApplyContext()), state)
    ids = torch.arange(10).unsqueeze(0)
    expected = adapter.merge(trained)(ids).logits
    torch.testing.assert_close(adapter.merge(rebuilt)(ids).logits, expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="gathered weights lack 1 parameter"):
        load_whole_state(adapter.apply(tiny_llama(0), params, ApplyContext()), dict(list(state.items())[1:]))


def test_methods_that_touch_weights_while_training_are_refused_when_sharded() -> None:
    from peft_rlvr_bench.adapters import TrainingHooks
    from peft_rlvr_bench.rlvr.sharded import refuse_weight_hooks

    refuse_weight_hooks(TrainingHooks(), None)
    with pytest.raises(ValueError, match="strategy zero2 or ddp"):
        refuse_weight_hooks(TrainingHooks(callbacks=[object()]), None)
    with pytest.raises(ValueError, match="strategy zero2 or ddp"):
        refuse_weight_hooks(TrainingHooks(), intervention=object())


def test_a_sharded_launch_is_read_from_accelerates_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from peft_rlvr_bench.rlvr.sharded import sharded_launch

    for name in ("ACCELERATE_USE_DEEPSPEED", "ACCELERATE_DEEPSPEED_ZERO_STAGE", "ACCELERATE_USE_FSDP"):
        monkeypatch.delenv(name, raising=False)
    assert not sharded_launch()
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "2")
    assert not sharded_launch()
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    assert sharded_launch()
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED")
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert sharded_launch()
