"""The recipes: the TRL settings each one decides."""

from __future__ import annotations

from peft_rlvr_bench.registry import RECIPES


def test_recipes_map_to_the_documented_trl_settings() -> None:
    expected = {
        "grpo": {"loss_type": "grpo", "scale_rewards": "group"},
        "dr_grpo": {"loss_type": "dr_grpo", "scale_rewards": "none"},
        "dapo": {"loss_type": "dapo", "scale_rewards": "group", "epsilon_high": 0.28, "beta": 0.0},
    }
    for name, settings in expected.items():
        recipe = RECIPES.get(name)()
        fields = recipe.config_fields(recipe.Params())
        assert {k: fields[k] for k in settings} == settings
        assert fields["per_device_train_batch_size"] == 4 * 8
