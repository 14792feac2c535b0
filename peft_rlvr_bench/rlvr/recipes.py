"""Recipes: each maps its typed parameters onto a TRL trainer's config (METHODS.md §4).

The GRPO family (``grpo``, ``dr_grpo``, ``dapo``) runs TRL's GRPOTrainer and differs only in the
loss variant; ``sft`` is the supervised control the claims about RLVR are contrasted with: TRL's
SFTTrainer on the same training task, with the verified answers as targets. ``trainer`` says
which loop a recipe runs. DAPO's dynamic sampling
(dropping groups whose rewards are all equal and refilling the batch) is not in TRL, so the
``dapo`` recipe here is DAPO's loss, clip-higher and no KL, without dynamic sampling.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

from peft_rlvr_bench.distributed import per_process
from peft_rlvr_bench.registry import register_recipe


class RecipeParams(BaseModel):
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

    @model_validator(mode="after")
    def _micro_batches_fill_the_update(self) -> RecipeParams:
        batch = self.prompts_per_step * self.num_generations
        if self.micro_batch_size is not None and batch % self.micro_batch_size:
            raise ValueError(
                f"micro_batch_size ({self.micro_batch_size}) must divide prompts_per_step x num_generations "
                f"({batch})"
            )
        return self

    @model_serializer(mode="wrap")
    def _omit_later_defaults(self, handler: Any) -> dict[str, Any]:
        # Settings added after run ids were published stay out of the resolved spec (and so out of
        # the run id) at their defaults; set, they are part of it.
        data = handler(self)
        for name, default in _RECIPE_FIELDS_ADDED_LATER.items():
            if data.get(name, default) == default:
                data.pop(name, None)
        return data


_RECIPE_FIELDS_ADDED_LATER: dict[str, Any] = {"micro_batch_size": None, "gradient_checkpointing": False}


class DAPOParams(RecipeParams):
    epsilon_high: float = Field(0.28, gt=0, description="clip-higher upper range")
    beta: float = Field(0.0, ge=0, le=0, description="DAPO drops the KL term")


class SFTParams(BaseModel):
    """Supervised fine-tuning on the training task's items, answers as completions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_size: int = Field(
        32, gt=0, description="examples per optimizer update (GRPO's default sees 4 prompts x 8 completions)"
    )
    max_length: int = Field(64, gt=0, description="tokens per example, prompt and answer")
    warmup_steps: int = Field(0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)


class Recipe(Protocol):
    Params: ClassVar[type[BaseModel]]
    trainer: ClassVar[Literal["grpo", "sft"]]


def _shared_fields(params: RecipeParams) -> dict[str, Any]:
    # The recipe's batch is per optimizer update: under `accelerate launch` each process gets
    # its share, so N processes make the same update (prompts, group size) as one.
    share = per_process(
        params.prompts_per_step * params.num_generations, "prompts_per_step x num_generations"
    )
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
    }


class _LossVariant:
    Params: ClassVar[type[RecipeParams]] = RecipeParams
    trainer: ClassVar[Literal["grpo", "sft"]] = "grpo"
    loss_type: ClassVar[Literal["grpo", "dr_grpo", "dapo"]]
    scale_rewards: ClassVar[Literal["group", "none"]]

    def grpo_config_fields(self, params: RecipeParams) -> dict[str, Any]:
        """The ``GRPOConfig`` keyword arguments that define this recipe."""
        return {**_shared_fields(params), "loss_type": self.loss_type, "scale_rewards": self.scale_rewards}


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

    def grpo_config_fields(self, params: DAPOParams) -> dict[str, Any]:  # type: ignore[override]
        return {**super().grpo_config_fields(params), "epsilon_high": params.epsilon_high}


@register_recipe("sft")
class SFT:
    Params = SFTParams
    trainer: ClassVar[Literal["grpo", "sft"]] = "sft"
