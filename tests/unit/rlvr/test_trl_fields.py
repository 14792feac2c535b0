"""``recipe.trl``: further TRL config fields, checked against TRL's own config classes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.suite import load_suite
from tests.helpers.suites import GOOD, write


def _with_recipe(recipe: str) -> str:
    return GOOD.replace("recipe: {name: grpo}", f"recipe: {recipe}")


def test_an_unknown_field_names_the_closest_grpo_config_field(tmp_path: Path) -> None:
    path = write(tmp_path, _with_recipe("{name: grpo, trl: {lr_schedular_type: cosine}}"))
    with pytest.raises(UserError) as caught:
        load_suite(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:6: recipe.trl.lr_schedular_type: ")
    assert "GRPOConfig has no field 'lr_schedular_type' (did you mean 'lr_scheduler_type'?)" in message
    assert "\n" not in message


def test_the_sft_recipe_is_checked_against_sft_config(tmp_path: Path) -> None:
    text = GOOD.replace("{name: lora, r: 4, lr: 1.0e-3}", "{name: lora, r: 4, lr: 1.0e-3, recipe: REC}")
    text = text.replace("REC", "{name: sft, trl: {num_generations: 4}}")
    with pytest.raises(UserError, match=r"adapters\.1\.recipe\.trl\.num_generations: SFTConfig has no field"):
        load_suite(write(tmp_path, text))
    ok = text.replace("num_generations: 4", "weight_decay: 0.1")
    assert load_suite(write(tmp_path, ok)).runs[2].recipe.params["trl"] == {"weight_decay": 0.1}


@pytest.mark.parametrize(
    ("field", "owner"),
    [
        ("learning_rate", "adapters[].lr"),
        ("max_steps", "budget.max_steps"),
        ("seed", "seeds"),
        ("output_dir", "the harness itself"),
        ("per_device_train_batch_size", "prompts_per_step x num_generations"),
        ("warmup_steps", "recipe.warmup_steps"),
        ("num_generations", "recipe.num_generations"),
        ("loss_type", "recipe.name"),
    ],
)
def test_fields_the_harness_sets_are_refused_naming_their_suite_field(
    tmp_path: Path, field: str, owner: str
) -> None:
    path = write(tmp_path, _with_recipe(f"{{name: grpo, trl: {{{field}: 1}}}}"))
    with pytest.raises(UserError) as caught:
        load_suite(path)
    message = str(caught.value)
    assert f"recipe.trl.{field}: '{field}' is set by " in message
    assert owner in message


def test_dapo_clip_higher_is_its_recipe_field_but_grpo_may_pass_it(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"recipe\.epsilon_high"):
        load_suite(write(tmp_path, _with_recipe("{name: dapo, trl: {epsilon_high: 0.3}}")))
    loaded = load_suite(write(tmp_path, _with_recipe("{name: grpo, trl: {epsilon_high: 0.3}}")))
    assert loaded.runs[0].recipe.params["trl"] == {"epsilon_high": 0.3}


def test_trl_values_reach_grpo_config_and_change_the_run_id(tmp_path: Path) -> None:
    from trl import GRPOConfig

    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.rlvr.train import trainer_config

    plain = load_suite(write(tmp_path, GOOD, "plain.yaml")).runs[0]
    fields = (
        "{name: grpo, trl: {lr_scheduler_type: cosine, weight_decay: 0.01, "
        "importance_sampling_level: sequence, num_iterations: 2}}"
    )
    run = load_suite(write(tmp_path, _with_recipe(fields))).runs[0]
    assert run.run_id != plain.run_id
    assert run.identity()["train_config"]["importance_sampling_level"] == "sequence"
    config = GRPOConfig(**trainer_config(run, RunContext(), tmp_path / "out"))
    assert config.lr_scheduler_type == "cosine"
    assert config.weight_decay == 0.01
    assert config.importance_sampling_level == "sequence"
    assert config.num_iterations == 2
    # Without trl: the harness's defaults, and the run id published before trl: existed.
    default = GRPOConfig(**trainer_config(plain, RunContext(), tmp_path / "out"))
    assert (default.lr_scheduler_type, default.weight_decay) == ("constant_with_warmup", 0.0)
    assert "trl" not in plain.identity()["recipe"]["params"]


def test_validating_a_suite_without_trl_does_not_import_trl(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    code = (
        "import sys; from peft_rlvr_bench.suite import load_suite; "
        f"load_suite({str(path)!r}); print('trl' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_rollout_sleep_and_evaluation_sleep_are_refused_together(tmp_path: Path) -> None:
    both = _with_recipe("{name: grpo, trl: {vllm_enable_sleep_mode: true}}")
    path = write(tmp_path, both + "generation: {vllm_eval_sleep: true}\n")
    with pytest.raises(UserError) as caught:
        load_suite(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:") and "generation.vllm_eval_sleep: cannot be combined with" in message
    assert "\n" not in message
    assert load_suite(write(tmp_path, both)).spec.generation is None, "either one alone is fine"
    assert load_suite(write(tmp_path, GOOD + "generation: {vllm_eval_sleep: true}\n")).spec.generation
