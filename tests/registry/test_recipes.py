"""The shared recipe matrix: every registered recipe is held to the same invariants.

A recipe's ``harness_config`` is part of every run id (``suite/identity.py``), so it must be plain
JSON, the same on every call, and moved by every parameter the recipe has: a parameter that never
reaches the TRL config would change what a user asked for without changing the run id, or change
nothing at all. Adding a recipe means adding one row to ``CASES``: a valid value other than the
default for each of its parameters (or the reason a parameter has only one value) and the TRL
config class its loop builds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.registry import RECIPES
from peft_rlvr_bench.rlvr.recipes import harness_config
from tests.helpers.coverage import check_rows

GRPO_CHANGES: dict[str, Any] = {
    "prompts_per_step": 2,
    "num_generations": 4,
    "max_completion_length": 16,
    "temperature": 0.7,
    "beta": 0.04,
    "epsilon": 0.3,
    "warmup_steps": 3,
    "max_grad_norm": 0.5,
    "micro_batch_size": 8,
    "gradient_checkpointing": True,
    "trl": {"lr_scheduler_type": "cosine", "weight_decay": 0.01},
    "importance_sampling": "token_truncate",
    "importance_sampling_cap": 2.0,
}


@dataclass(frozen=True)
class Case:
    changes: dict[str, Any]
    """A valid value other than the default for each parameter."""
    trl_config: str
    """The TRL config class the recipe's loop is built on."""
    fixed: dict[str, str] = field(default_factory=dict)
    """Parameters that admit only their default, and why."""


CASES: dict[str, Case] = {
    "grpo": Case(GRPO_CHANGES, "GRPOConfig"),
    "dr_grpo": Case(GRPO_CHANGES, "GRPOConfig"),
    "dapo": Case(
        {
            **{k: v for k, v in GRPO_CHANGES.items() if k != "beta"},
            "epsilon_high": 0.3,
            "mask_truncated_completions": False,
        },
        "GRPOConfig",
        fixed={"beta": "DAPO drops the KL term (le=0)"},
    ),
    "sft": Case(
        {
            "batch_size": 8,
            "max_length": 32,
            "warmup_steps": 3,
            "max_grad_norm": 0.5,
            "trl": {"weight_decay": 0.01},
        },
        "SFTConfig",
    ),
}

RUN = {"learning_rate": 1e-3, "seed": 0, "max_steps": 5}
"""What a run's entry, budget and seed add to every recipe's config."""


def test_every_registered_recipe_has_a_row() -> None:
    check_rows(RECIPES, CASES, "CASES of tests/registry/test_recipes.py")


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_row_names_every_parameter_of_the_recipe(name: str) -> None:
    declared = set(RECIPES.get(name).Params.model_fields)
    case = CASES[name]
    assert set(case.changes) | set(case.fixed) == declared
    assert not set(case.changes) & set(case.fixed)


@pytest.mark.parametrize("name", sorted(CASES))
def test_harness_config_is_plain_json_and_the_same_on_every_call(name: str) -> None:
    for params in ({}, CASES[name].changes):
        config = harness_config(name, params, **RUN)
        assert json.loads(json.dumps(config)) == config, "only JSON types: it is hashed into run ids"
        again = harness_config(name, dict(reversed(list(params.items()))), **RUN)
        assert json.dumps(again) == json.dumps(config), "the same spec gives the same config, key order too"
        assert {key: config[key] for key in RUN} == RUN


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_parameter_moves_the_harness_config(name: str) -> None:
    default = harness_config(name, {}, **RUN)
    for parameter, value in CASES[name].changes.items():
        changed = harness_config(name, {parameter: value}, **RUN)
        assert changed != default, (
            f"{name}.{parameter}={value!r} does not reach the TRL config (nor the run id)"
        )
    assert harness_config(name, {}, **{**RUN, "learning_rate": 2e-3}) != default


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_update_holds_the_batch_the_recipe_declares(name: str) -> None:
    recipe = RECIPES.get(name)()
    for values in ({}, CASES[name].changes):
        params = recipe.Params.model_validate(values)
        config = recipe.config_fields(params)
        sequences = config["per_device_train_batch_size"] * config.get("gradient_accumulation_steps", 1)
        assert sequences == recipe.update_batch(params)[0]
        per_update = recipe.train_items(params, 1)
        assert recipe.train_items(params, 7) == 7 * per_update > 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_trl_accepts_the_config(name: str, tmp_path: Path) -> None:
    import trl

    config_class = getattr(trl, CASES[name].trl_config)
    for params in ({}, CASES[name].changes):
        config = config_class(
            output_dir=str(tmp_path), use_cpu=True, report_to="none", **harness_config(name, params, **RUN)
        )
        assert config.learning_rate == RUN["learning_rate"] and config.max_steps == RUN["max_steps"]
