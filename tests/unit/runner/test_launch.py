"""One run across processes (accelerate launch): settings that leave run ids alone, the command, the
configs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.runner.launch import CONFIGS, accelerate_config, launch_command
from peft_rlvr_bench.suite import LaunchSpec, load_suite
from tests.helpers.suites import write_scale_suite

# ------------------------------------------------------------------------------------------------
# The launch spec: validated, and never part of a run id


def test_launch_settings_leave_every_run_id_unchanged(tmp_path: Path) -> None:
    plain = load_suite(write_scale_suite(tmp_path))
    launched = load_suite(
        write_scale_suite(tmp_path, name="launched", launch={"processes": 2, "strategy": "zero2"})
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
        load_suite(write_scale_suite(tmp_path, launch=launch, **changes))
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{tmp_path / 'scale.yaml'}:")


def test_sharded_strategies_validate_without_a_trajectory(tmp_path: Path) -> None:
    suite = load_suite(
        write_scale_suite(
            tmp_path, trajectory=None, extrapolation=[], launch={"processes": 8, "strategy": "zero3"}
        )
    )
    assert suite.spec.launch is not None and suite.spec.launch.strategy == "zero3"


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
