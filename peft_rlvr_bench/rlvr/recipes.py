"""Recipes: each maps its typed parameters onto a TRL trainer's config and owns the loop that runs it.

The GRPO family (``grpo``, ``dr_grpo``, ``dapo``) runs TRL's GRPOTrainer (``rlvr/grpo.py``) and
differs in the loss normalisation, the advantage scaling and DAPO's clip-higher; ``sft`` is the
supervised control the claims about RLVR are contrasted with: TRL's SFTTrainer (``rlvr/sft.py``)
on the same training task, with the verified answers as targets. What each recipe computes, and
where it departs from stock TRL, is written at the top of ``rlvr/train.py``.

``harness_config`` is everything the harness puts into a run's TRL config that the run spec
decides: it is part of the run's identity (``suite/identity.py``), so editing a recipe here
changes the id of every run that uses it and ``prb run`` redoes them. Nothing here imports TRL
or torch: run ids are computed when a suite is validated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from peft_rlvr_bench.distributed import split_batch
from peft_rlvr_bench.registry import RECIPES, register_recipe
from peft_rlvr_bench.rlvr.job import TrainingLoop
from peft_rlvr_bench.rlvr.trl_fields import ConfigClass, check_trl_fields
from peft_rlvr_bench.schema import InputModel

SCHEDULER = "constant_with_warmup"
"""The default learning-rate schedule: a constant rate after ``warmup_steps`` (TRL's default is a
linear decay to zero, which would make a longer budget a different schedule). ``trl:
{lr_scheduler_type: ...}`` sets another."""

WEIGHT_DECAY = 0.0
"""The default weight decay: none, so every change to the weights comes from the reward (or the
SFT loss). ``trl: {weight_decay: ...}`` sets another."""

TRL_FIELD = Field(
    default_factory=dict,
    description="further fields of TRL's config (GRPOConfig; SFTConfig for sft), e.g. "
    "{lr_scheduler_type: cosine, weight_decay: 0.01, importance_sampling_level: sequence}; "
    "fields the harness sets are refused (docs/suites.md)",
)


class RecipeParams(InputModel):
    """Rollout and loss settings every GRPO-family recipe shares."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompts_per_step: int = Field(4, gt=0, description="distinct prompts per optimizer update")
    num_generations: int = Field(8, ge=2, description="completions per prompt (the group size)")
    max_completion_length: int = Field(8, gt=0)
    temperature: float = Field(1.0, gt=0)
    beta: float = Field(0.0, ge=0, description="KL coefficient; 0 means no reference model")
    epsilon: float = Field(0.2, gt=0, description="lower clip range")
    warmup_steps: int = Field(0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    micro_batch_size: int | None = Field(
        None,
        gt=0,
        description="completions per forward/backward pass; gradient accumulation fills the update "
        "(default: the whole update in one pass, fine for the tiny world, not for 4k-token completions)",
    )
    gradient_checkpointing: bool = Field(
        False, description="recompute activations in the backward pass (real models, long completions)"
    )
    trl: dict[str, Any] = TRL_FIELD
    importance_sampling: Literal[
        "sequence_mask", "sequence_truncate", "token_mask", "token_truncate", "off"
    ] = Field(
        "sequence_mask",
        description="TRL's correction of vLLM rollouts for the sampler/trainer mismatch (vLLM only): "
        "*_mask weighs 0 a completion (or token) whose probability ratio exceeds the cap, *_truncate "
        "clips it to the cap; sequence_mask is TRL 1.16's default, made explicit; off: none",
    )
    importance_sampling_cap: float = Field(3.0, gt=0, description="the ratio above which it masks or clips")

    @model_validator(mode="after")
    def _micro_batches_fill_the_update(self) -> RecipeParams:
        batch = self.prompts_per_step * self.num_generations
        if self.micro_batch_size is not None and batch % self.micro_batch_size:
            raise ValueError(
                f"micro_batch_size ({self.micro_batch_size}) must divide prompts_per_step x num_generations "
                f"({batch})"
            )
        return self


class DAPOParams(RecipeParams):
    epsilon_high: float = Field(0.28, gt=0, description="clip-higher upper range")
    beta: float = Field(0.0, ge=0, le=0, description="DAPO drops the KL term")
    mask_truncated_completions: bool = Field(
        True,
        description="DAPO's overlong filtering: a completion cut at max_completion_length (no EOS) "
        "adds no loss (TRL's mask_truncated_completions)",
    )


class SFTParams(InputModel):
    """Supervised fine-tuning on the training task's items, answers as completions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(
        32, gt=0, description="examples per optimizer update (GRPO's default sees 4 prompts x 8 completions)"
    )
    max_length: int = Field(64, gt=0, description="tokens per example, prompt and answer")
    warmup_steps: int = Field(0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    trl: dict[str, Any] = TRL_FIELD


@dataclass(frozen=True)
class Workload:
    """What one optimizer update holds in memory, for the dry run's estimate (``memory.py``)."""

    micro_batch: int
    """Sequences per forward/backward pass."""
    sequence_tokens: int
    generation_batch: int
    """Sequences generated at once with transformers rollouts (0: no rollouts, or vLLM's)."""
    gradient_checkpointing: bool
    reference: bool
    """A KL reference model is held (``beta > 0``)."""


class Recipe(Protocol):
    """A training recipe: its parameters, the TRL config they give, and the loop that runs it."""

    Params: ClassVar[type[BaseModel]]
    generates: ClassVar[bool]
    """Whether the loop samples completions (then the run's generation backend applies)."""
    config_class: ClassVar[ConfigClass]
    """TRL's config class the loop builds, whose fields ``trl:`` may set."""

    def config_fields(self, params: Any, processes: int = 1) -> dict[str, Any]:
        """The TRL config keyword arguments that define this recipe, for a job of ``processes``
        processes (each gets its share of the update's batch)."""
        ...

    def train_items(self, params: Any, max_steps: int) -> int:
        """Training items (prompts or examples) the run's ``max_steps`` updates consume."""
        ...

    def update_batch(self, params: Any) -> tuple[int, str]:
        """Sequences per optimizer update, which a launch splits over its processes, and their name."""
        ...

    def needs_reference(self, params: Any) -> bool:
        """Whether the loss has a KL term, so the run holds a copy of the base as reference."""
        ...

    def workload(self, params: Any, prompt_tokens: int, vllm_rollouts: bool) -> Workload: ...

    def loop(self) -> TrainingLoop:
        """The function that trains a prepared job (imports TRL; ``rlvr/job.py``)."""
        ...


class _LossVariant:
    """A GRPO-family recipe: TRL's GRPOTrainer with this loss type and advantage scaling."""

    Params: ClassVar[type[BaseModel]] = RecipeParams
    generates: ClassVar[bool] = True
    config_class: ClassVar[ConfigClass] = "GRPOConfig"
    loss_type: ClassVar[Literal["grpo", "dr_grpo", "dapo"]]
    scale_rewards: ClassVar[Literal["group", "none"]]

    def config_fields(self, params: RecipeParams, processes: int = 1) -> dict[str, Any]:
        # The recipe's batch is per optimizer update: under `accelerate launch` each process gets
        # its share, so N processes make the same update (prompts, group size) as one.
        batch, what = self.update_batch(params)
        share = split_batch(batch, processes, what)
        micro = params.micro_batch_size or share
        if share % micro:
            raise ValueError(f"micro_batch_size {micro} does not divide this process's {share} completions")
        return {
            # TRL generates once per optimizer update (steps_per_generation = accumulation steps).
            "per_device_train_batch_size": micro,
            "gradient_accumulation_steps": share // micro,
            # Off in the tiny world, where recomputation costs more than it saves.
            "gradient_checkpointing": params.gradient_checkpointing,
            "num_generations": params.num_generations,
            "max_completion_length": params.max_completion_length,
            "temperature": params.temperature,
            "beta": params.beta,
            "epsilon": params.epsilon,
            "warmup_steps": params.warmup_steps,
            "max_grad_norm": params.max_grad_norm,
            "loss_type": self.loss_type,
            "scale_rewards": self.scale_rewards,
            "shuffle_dataset": True,
            # Read by TRL only with vLLM rollouts; explicit so a TRL default change cannot move it.
            "vllm_importance_sampling_correction": params.importance_sampling != "off",
            "vllm_importance_sampling_mode": (
                "sequence_mask" if params.importance_sampling == "off" else params.importance_sampling
            ),
            "vllm_importance_sampling_clip_max": params.importance_sampling_cap,
        }

    def train_items(self, params: RecipeParams, max_steps: int) -> int:
        return max_steps * params.prompts_per_step

    def update_batch(self, params: RecipeParams) -> tuple[int, str]:
        return params.prompts_per_step * params.num_generations, "prompts_per_step x num_generations"

    def needs_reference(self, params: RecipeParams) -> bool:
        return params.beta > 0

    def workload(self, params: RecipeParams, prompt_tokens: int, vllm_rollouts: bool) -> Workload:
        batch = self.update_batch(params)[0]
        return Workload(
            micro_batch=params.micro_batch_size or batch,
            sequence_tokens=prompt_tokens + params.max_completion_length,
            generation_batch=0 if vllm_rollouts else batch,
            gradient_checkpointing=params.gradient_checkpointing,
            reference=self.needs_reference(params),
        )

    def loop(self) -> TrainingLoop:
        from peft_rlvr_bench.rlvr.grpo import train_grpo

        return train_grpo


@register_recipe("grpo")
class GRPO(_LossVariant):
    loss_type = "grpo"
    scale_rewards = "group"


@register_recipe("dr_grpo")
class DrGRPO(_LossVariant):
    loss_type = "dr_grpo"
    scale_rewards = "none"


@register_recipe("dapo")
class DAPO(_LossVariant):
    Params = DAPOParams
    loss_type = "dapo"
    scale_rewards = "group"

    def config_fields(self, params: DAPOParams, processes: int = 1) -> dict[str, Any]:  # type: ignore[override]
        return {
            **super().config_fields(params, processes),
            "epsilon_high": params.epsilon_high,
            "mask_truncated_completions": params.mask_truncated_completions,
        }


@register_recipe("sft")
class SFT:
    """TRL's SFTTrainer, loss on the answer tokens only, the same optimizer and schedule as RL."""

    Params: ClassVar[type[BaseModel]] = SFTParams
    generates: ClassVar[bool] = False
    config_class: ClassVar[ConfigClass] = "SFTConfig"

    def config_fields(self, params: SFTParams, processes: int = 1) -> dict[str, Any]:
        return {
            "per_device_train_batch_size": split_batch(params.batch_size, processes, "batch_size"),
            "warmup_steps": params.warmup_steps,
            "max_grad_norm": params.max_grad_norm,
            "gradient_checkpointing": False,
            "max_length": params.max_length,
            "completion_only_loss": True,  # the answer is the target, as in the RL reward
        }

    def train_items(self, params: SFTParams, max_steps: int) -> int:
        return max_steps * params.batch_size

    def update_batch(self, params: SFTParams) -> tuple[int, str]:
        return params.batch_size, "its batch_size"

    def needs_reference(self, params: SFTParams) -> bool:
        return False

    def workload(self, params: SFTParams, prompt_tokens: int, vllm_rollouts: bool) -> Workload:
        return Workload(params.batch_size, params.max_length, 0, False, False)

    def loop(self) -> TrainingLoop:
        from peft_rlvr_bench.rlvr.sft import train_sft

        return train_sft


def recipe_of(name: str, params: Mapping[str, Any]) -> tuple[Recipe, Any]:
    """The registered recipe ``name`` and its validated parameters."""
    recipe = RECIPES.get(name)()
    return recipe, recipe.Params.model_validate(dict(params))


def harness_config(
    recipe_name: str,
    recipe_params: Mapping[str, Any],
    *,
    learning_rate: float,
    seed: int,
    max_steps: int,
    processes: int = 1,
) -> dict[str, Any]:
    """The TRL config keyword arguments that a run's spec decides: the recipe's, the entry's
    learning rate, the budget, the seed, the harness's defaults (schedule, no weight decay) and
    the recipe's ``trl:`` fields last. With the default one process this is what a run's identity
    covers; a launched run passes its per-process batch share (``launch`` is not part of the
    identity)."""
    recipe, params = recipe_of(recipe_name, recipe_params)
    return {
        "max_steps": max_steps,
        "learning_rate": learning_rate,
        "lr_scheduler_type": SCHEDULER,
        "weight_decay": WEIGHT_DECAY,
        "seed": seed,
        "data_seed": seed,
        **recipe.config_fields(params, processes),
        # Suite validation refused any field set above (check_trl), so these only add.
        **params.trl,
    }


def check_trl(recipe_name: str, recipe_params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Problems with a recipe's ``trl:`` fields as (field, message); imports TRL only when there
    are any. ``recipe_params`` must already be valid for the recipe."""
    recipe, params = recipe_of(recipe_name, recipe_params)
    if not params.trl:
        return []
    return check_trl_fields(params.trl, recipe.config_class, recipe.config_fields(params), recipe_name)
