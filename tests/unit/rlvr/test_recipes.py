"""The recipes: the TRL settings each one decides."""

from __future__ import annotations

from peft_rlvr_bench.registry import RECIPES


def test_recipes_map_to_the_documented_trl_settings() -> None:
    expected = {
        "grpo": {"loss_type": "grpo", "scale_rewards": "group"},
        "dr_grpo": {"loss_type": "dr_grpo", "scale_rewards": "none"},
        "dapo": {
            "loss_type": "dapo",
            "scale_rewards": "group",
            "epsilon_high": 0.28,
            "beta": 0.0,
            "mask_truncated_completions": True,
        },
    }
    for name, settings in expected.items():
        recipe = RECIPES.get(name)()
        fields = recipe.config_fields(recipe.Params())
        assert {k: fields[k] for k in settings} == settings
        assert fields["per_device_train_batch_size"] == 4 * 8


def test_the_importance_sampling_mode_is_explicit_and_reaches_trl() -> None:
    from trl import GRPOConfig

    recipe = RECIPES.get("grpo")()
    fields = recipe.config_fields(recipe.Params())
    assert fields["vllm_importance_sampling_correction"] is True
    assert fields["vllm_importance_sampling_mode"] == "sequence_mask"
    assert fields["vllm_importance_sampling_clip_max"] == 3.0
    off = recipe.config_fields(recipe.Params(importance_sampling="off"))
    assert off["vllm_importance_sampling_correction"] is False
    clipped = recipe.config_fields(
        recipe.Params(importance_sampling="token_truncate", importance_sampling_cap=2.0)
    )
    config = GRPOConfig(output_dir="unused", use_cpu=True, **clipped)
    assert (config.vllm_importance_sampling_mode, config.vllm_importance_sampling_clip_max) == (
        "token_truncate",
        2.0,
    )
    assert "mask_truncated_completions" not in fields, "overlong filtering is DAPO's, not GRPO's"
