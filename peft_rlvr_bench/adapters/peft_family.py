"""The rest of the peft family: AdaLoRA, VeRA, IA3, LN tuning and MiSS, each with explicit targets.

AdaLoRA is the one that needs the training loop: its rank budget is only reallocated when
``update_and_allocate`` runs after every update, and its orthogonality regulariser only acts
when the model computes a loss, which a GRPO forward pass never does. Both are wired in here.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from peft_rlvr_bench.adapters import (
    AdapterDefaults,
    AdapterFootprint,
    AdapterParams,
    ApplyContext,
    TrainingHooks,
    block_linear_names,
)
from peft_rlvr_bench.registry import register_adapter

if TYPE_CHECKING:
    import torch
    from torch import nn

    from peft_rlvr_bench.architecture import Architecture


class _MergeByPeft(AdapterDefaults):
    def merge(self, model: nn.Module) -> nn.Module:
        return model.merge_and_unload()


def _targets(model: nn.Module, params: AdapterParams) -> list[str]:
    return params.target_modules or block_linear_names(model)


# --- AdaLoRA ----------------------------------------------------------------------------------


class AdaLoRAParams(AdapterParams):
    rank_field: ClassVar[str | None] = "init_r"

    init_r: int = Field(12, gt=0, description="rank every matrix starts with")
    target_r: int = Field(8, gt=0, description="average rank after the budget is pruned")
    alpha: float = Field(16.0, gt=0)
    tinit_fraction: float = Field(0.1, ge=0, lt=1, description="share of updates before pruning starts")
    tfinal_fraction: float = Field(0.3, ge=0, lt=1, description="share of updates at the final budget")
    delta_t: int = Field(1, gt=0, description="updates between reallocations")
    orth_reg_weight: float = Field(0.5, ge=0)

    @model_validator(mode="after")
    def _budget_shrinks(self) -> AdaLoRAParams:
        if self.target_r > self.init_r:
            raise ValueError("target_r must not exceed init_r: AdaLoRA prunes rank, it never grows it")
        if self.tinit_fraction + self.tfinal_fraction >= 1:
            raise ValueError("tinit_fraction + tfinal_fraction must leave updates for pruning (< 1)")
        return self


def orthogonality_penalty(model: nn.Module, adapter_name: str = "default") -> torch.Tensor:
    """AdaLoRA's regulariser: mean over A and B of ||P P^T - I||_F (peft ``AdaLoraModel.forward``)."""
    import torch

    terms = []
    for name, parameter in model.named_parameters():
        if f"lora_A.{adapter_name}" in name or f"lora_B.{adapter_name}" in name:
            gram = parameter @ parameter.T if "lora_A" in name else parameter.T @ parameter
            terms.append(
                torch.linalg.matrix_norm(gram - torch.eye(gram.shape[0], dtype=gram.dtype), ord="fro")
            )
    if not terms:
        raise ValueError("no AdaLoRA factors found; is the model wrapped with AdaLoRA?")
    return torch.stack(terms).mean()


def _rank_allocation_callback() -> Any:
    from transformers import TrainerCallback

    class RankAllocation(TrainerCallback):
        """Runs AdaLoRA's budget schedule after each optimizer step, while gradients still exist."""

        def on_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **_: Any) -> None:
            model.base_model.update_and_allocate(state.global_step)

    return RankAllocation()


@register_adapter("adalora")
class AdaLoRA(_MergeByPeft):
    Params: ClassVar[type[AdapterParams]] = AdaLoRAParams
    resumable: ClassVar[bool] = False
    """Its rank allocator's importance averages live outside the trainer checkpoint: a killed
    AdaLoRA run restarts instead of resuming."""

    def apply(self, model: nn.Module, params: AdaLoRAParams, context: ApplyContext) -> nn.Module:
        from peft import AdaLoraConfig, get_peft_model

        total = max(context.total_updates, 1)
        config = AdaLoraConfig(
            init_r=params.init_r,
            target_r=params.target_r,
            lora_alpha=params.alpha,
            tinit=int(params.tinit_fraction * total),
            tfinal=int(params.tfinal_fraction * total),
            deltaT=params.delta_t,
            total_step=total,
            orth_reg_weight=params.orth_reg_weight,
            target_modules=_targets(model, params),
            task_type="CAUSAL_LM",
        )
        return get_peft_model(model, config)

    def hooks(self, model: nn.Module, params: AdaLoRAParams) -> TrainingHooks:
        return TrainingHooks(
            callbacks=[_rank_allocation_callback()],
            extra_loss=lambda m: params.orth_reg_weight * orthogonality_penalty(m),
        )

    def footprint(self, arch: Architecture, params: AdaLoRAParams) -> AdapterFootprint:
        # A (r x in), E (r x 1) and B (out x r) at the initial rank; pruning zeroes E, never frees it.
        targets = arch.target_shapes(params.target_modules)
        return AdapterFootprint.dense(sum(params.init_r * (out + inp + 1) for _, out, inp in targets))


# --- VeRA, IA3, LN tuning, MiSS ----------------------------------------------------------------


class VeRAParams(AdapterParams):
    r: int = Field(64, gt=0, description="rank of the shared frozen random projections")
    d_initial: float = Field(0.1, gt=0)
    projection_seed: int = Field(0, description="PRNG key of the shared projections")


@register_adapter("vera")
class VeRA(_MergeByPeft):
    Params: ClassVar[type[AdapterParams]] = VeRAParams

    def apply(self, model: nn.Module, params: VeRAParams, context: ApplyContext) -> nn.Module:
        from peft import VeraConfig, get_peft_model

        config = VeraConfig(
            r=params.r,
            d_initial=params.d_initial,
            projection_prng_key=params.projection_seed,
            target_modules=_targets(model, params),
            task_type="CAUSAL_LM",
        )
        return get_peft_model(model, config)

    def footprint(self, arch: Architecture, params: VeRAParams) -> AdapterFootprint:
        # Per target: lambda_d (r) and lambda_b (out); the shared projections are frozen buffers.
        targets = arch.target_shapes(params.target_modules)
        return AdapterFootprint.dense(sum(params.r + out for _, out, _ in targets))


class IA3Params(AdapterParams):
    feedforward_modules: list[str] = Field(
        default_factory=lambda: ["down_proj"],
        description="targets whose input (not output) is rescaled; must be among the targets",
    )


@register_adapter("ia3")
class IA3(_MergeByPeft):
    Params: ClassVar[type[AdapterParams]] = IA3Params

    def apply(self, model: nn.Module, params: IA3Params, context: ApplyContext) -> nn.Module:
        from peft import IA3Config, get_peft_model

        targets = _targets(model, params)
        missing = sorted(set(params.feedforward_modules) - set(targets))
        if missing:
            raise ValueError(f"feedforward_modules {missing} are not among the target modules {targets}")
        config = IA3Config(
            target_modules=targets, feedforward_modules=params.feedforward_modules, task_type="CAUSAL_LM"
        )
        return get_peft_model(model, config)

    def footprint(self, arch: Architecture, params: IA3Params) -> AdapterFootprint:
        # One scale per output channel; a feed-forward target's scales its input channels instead.
        feedforward = set(params.feedforward_modules)
        targets = arch.target_shapes(params.target_modules)
        return AdapterFootprint.dense(sum(inp if name in feedforward else out for name, out, inp in targets))


class LNTuningParams(AdapterParams):
    target_modules: list[str] | None = Field(
        None, description="norm layers to tune; default: every norm layer of the model"
    )


def norm_layer_names(model: nn.Module) -> list[str]:
    """Suffixes of every normalisation layer (RMSNorm/LayerNorm) in the model."""
    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if "norm" in type(module).__name__.lower()
    }
    if not names:
        raise ValueError("found no normalisation layers; set target_modules explicitly")
    return sorted(names)


@register_adapter("ln_tuning")
class LNTuning(_MergeByPeft):
    Params: ClassVar[type[AdapterParams]] = LNTuningParams

    def apply(self, model: nn.Module, params: LNTuningParams, context: ApplyContext) -> nn.Module:
        from peft import LNTuningConfig, get_peft_model

        config = LNTuningConfig(
            target_modules=params.target_modules or norm_layer_names(model), task_type="CAUSAL_LM"
        )
        with warnings.catch_warnings():
            # peft warns on any norm class it has not listed (RMSNorm included); it tunes them fine.
            warnings.filterwarnings("ignore", message="Unsupported layer type", category=UserWarning)
            return get_peft_model(model, config)

    def footprint(self, arch: Architecture, params: LNTuningParams) -> AdapterFootprint:
        return AdapterFootprint.dense(arch.norm_parameters(params.target_modules))


class MiSSParams(AdapterParams):
    r: int = Field(8, gt=0, description="shard size; must divide each target's output dimension")


@register_adapter("miss")
class MiSS(_MergeByPeft):
    Params: ClassVar[type[AdapterParams]] = MiSSParams

    def apply(self, model: nn.Module, params: MiSSParams, context: ApplyContext) -> nn.Module:
        from peft import MissConfig, get_peft_model

        return get_peft_model(
            model, MissConfig(r=params.r, target_modules=_targets(model, params), task_type="CAUSAL_LM")
        )

    def footprint(self, arch: Architecture, params: MiSSParams) -> AdapterFootprint:
        targets = arch.target_shapes(params.target_modules)
        return AdapterFootprint.dense(sum(params.r * out for _, out, _ in targets))
