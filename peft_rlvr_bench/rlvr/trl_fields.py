"""``recipe.trl``: further TRL config fields a suite passes through, checked against TRL's own class.

A recipe's typed fields cover what the benchmark compares; ``trl:`` reaches everything else of
``GRPOConfig`` (or ``SFTConfig`` for ``sft``): the schedule (``lr_scheduler_type``), the weight
decay, GSPO's ``importance_sampling_level``, ``num_iterations``, ... A field is checked by name
against the config dataclass's fields, which means importing TRL; that happens only for a suite
that uses ``trl:``, so validating any other suite stays fast. A field the harness sets itself
(the rate, the budget, the batch, the seed, the output directory, ...) is refused, naming the
suite field that sets it, so one setting never has two places that disagree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from peft_rlvr_bench.registry import did_you_mean

ConfigClass = Literal["GRPOConfig", "SFTConfig"]

SUITE_OWNED: dict[str, str] = {
    "max_steps": "budget.max_steps",
    "learning_rate": "adapters[].lr",
    "seed": "seeds",
    "data_seed": "seeds",
    "per_device_train_batch_size": "the recipe's batch (prompts_per_step x num_generations, "
    "micro_batch_size; batch_size for sft)",
    "gradient_accumulation_steps": "the recipe's micro_batch_size",
    "loss_type": "recipe.name (grpo, dr_grpo, dapo)",
    "scale_rewards": "recipe.name (grpo, dr_grpo, dapo)",
    "save_strategy": "checkpoint",
    "save_steps": "checkpoint.every",
    "save_total_limit": "checkpoint.keep",
    "save_only_model": "checkpoint",
    "use_vllm": "generation.backend",
    "vllm_mode": "generation.vllm_mode",
    "vllm_gpu_memory_utilization": "generation.vllm_gpu_memory_utilization",
    "vllm_server_base_url": "generation.vllm_server_base_url",
    "vllm_max_model_length": "generation.vllm_max_model_len",
    "generation_kwargs": "the training task's stop strings",
}
"""TRL fields set from a suite field other than the recipe's own, and that field."""

MACHINE_OWNED = (
    "output_dir",
    "use_cpu",
    "bf16",
    "fp16",
    "logging_steps",
    "report_to",
    "disable_tqdm",
    "dataloader_num_workers",
    "shuffle_dataset",
    "completion_only_loss",
)
"""TRL fields the harness fixes for every run: where it writes, the device and precision, logging,
and the data order and loss masking every result assumes."""


def config_field_names(config_class: ConfigClass) -> list[str]:
    """The field names of TRL's ``GRPOConfig`` or ``SFTConfig`` (imports TRL)."""
    import trl

    return sorted(field.name for field in dataclasses.fields(getattr(trl, config_class)))


def owner_of(field: str, recipe_fields: Iterable[str], recipe_name: str) -> str | None:
    """The suite field that sets TRL's ``field``, or None when ``trl:`` may set it."""
    if field in SUITE_OWNED:
        return SUITE_OWNED[field]
    if field in MACHINE_OWNED:
        return "the harness itself (device, output directory, logging, data order)"
    if field in recipe_fields:
        return f"recipe.{field} (recipe {recipe_name!r})"
    return None


def check_trl_fields(
    fields: Mapping[str, Any],
    config_class: ConfigClass,
    harness_fields: Iterable[str],
    recipe_name: str,
) -> list[tuple[str, str]]:
    """Every problem with a ``trl:`` mapping as (field, message): unknown to ``config_class``
    (with the closest name), or set by the harness from ``harness_fields`` or another suite field."""
    if not fields:
        return []
    known = config_field_names(config_class)
    owned = set(harness_fields)
    problems = []
    for name in fields:
        if name not in known:
            hint = did_you_mean(name, known)
            problems.append((name, f"{config_class} has no field {name!r}{hint}; see TRL's {config_class}"))
            continue
        owner = owner_of(name, owned, recipe_name)
        if owner is not None:
            problems.append((name, f"{name!r} is set by {owner}; set it there, not in trl:"))
    return problems
