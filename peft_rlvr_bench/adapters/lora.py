"""The LoRA family through peft: LoRA, rsLoRA and DoRA (config flags), LoRA+ and LoRA-FA
(peft's optimizer helpers). All share explicit target modules and the same rank defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from peft_rlvr_bench.adapters import (
    AdapterDefaults,
    AdapterFootprint,
    AdapterParams,
    ApplyContext,
    TrainingHooks,
    block_linear_names,
    low_rank_footprint,
)
from peft_rlvr_bench.registry import register_adapter

if TYPE_CHECKING:
    import torch
    from torch import nn

    from peft_rlvr_bench.architecture import Architecture


class LoRAParams(AdapterParams):
    rank_field: ClassVar[str | None] = "r"

    r: int = Field(8, gt=0, description="rank")
    alpha: float = Field(
        16.0, gt=0, description="scaling numerator: s = alpha / r (alpha / sqrt(r) for rsLoRA)"
    )
    dropout: float = Field(0.0, ge=0, lt=1)


class LoRAPlusParams(LoRAParams):
    lr_ratio: float = Field(16.0, gt=0, description="learning rate of B over that of A (LoRA+ paper: 16)")


def lora_config(model: nn.Module, params: LoRAParams, **flags: Any) -> Any:
    """peft's ``LoraConfig`` with the harness's explicit targets and ``flags`` (rsLoRA, DoRA, inits)."""
    from peft import LoraConfig

    return LoraConfig(
        r=params.r,
        lora_alpha=params.alpha,
        lora_dropout=params.dropout,
        target_modules=params.target_modules or block_linear_names(model),
        bias="none",
        task_type="CAUSAL_LM",
        **flags,
    )


class _PeftLoRA(AdapterDefaults):
    """Applies ``lora_config`` with this class's ``flags``; merges with peft's ``merge_and_unload``."""

    Params: ClassVar[type[AdapterParams]] = LoRAParams
    flags: ClassVar[dict[str, Any]] = {}

    def apply(self, model: nn.Module, params: LoRAParams, context: ApplyContext) -> nn.Module:
        from peft import get_peft_model

        return get_peft_model(model, lora_config(model, params, **self.flags))

    def merge(self, model: nn.Module) -> nn.Module:
        return model.merge_and_unload()

    def footprint(self, arch: Architecture, params: LoRAParams) -> AdapterFootprint:
        return low_rank_footprint(arch, params.target_modules, params.r)


@register_adapter("lora")
class LoRA(_PeftLoRA):
    pass


@register_adapter("rslora")
class RSLoRA(_PeftLoRA):
    flags: ClassVar[dict[str, Any]] = {"use_rslora": True}


@register_adapter("dora")
class DoRA(_PeftLoRA):
    flags: ClassVar[dict[str, Any]] = {"use_dora": True}

    def footprint(self, arch: Architecture, params: LoRAParams) -> AdapterFootprint:
        magnitudes = sum(out for _, out, _ in arch.target_shapes(params.target_modules))
        return AdapterFootprint.dense(
            low_rank_footprint(arch, params.target_modules, params.r).gradient + magnitudes
        )


@register_adapter("lora_plus")
class LoRAPlus(_PeftLoRA):
    """LoRA with B trained ``lr_ratio`` times faster than A (peft ``create_loraplus_optimizer``)."""

    Params: ClassVar[type[AdapterParams]] = LoRAPlusParams

    def hooks(self, model: nn.Module, params: LoRAPlusParams) -> TrainingHooks:
        def optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
            import torch
            from peft.optimizers import create_loraplus_optimizer

            return create_loraplus_optimizer(
                model, torch.optim.AdamW, lr=lr, loraplus_lr_ratio=params.lr_ratio, weight_decay=0.0
            )

        return TrainingHooks(optimizer=optimizer)


@register_adapter("lora_fa")
class LoRAFA(_PeftLoRA):
    """LoRA-FA: A frozen at its random init, B trained with projected gradients
    (peft ``create_lorafa_optimizer``); only B counts as trainable."""

    def apply(self, model: nn.Module, params: LoRAParams, context: ApplyContext) -> nn.Module:
        wrapped = super().apply(model, params, context)
        # The optimizer helper freezes A too, but the parameter count is taken before it runs.
        for name, parameter in wrapped.named_parameters():
            if "lora_A" in name:
                parameter.requires_grad_(False)
        return wrapped

    def hooks(self, model: nn.Module, params: LoRAParams) -> TrainingHooks:
        def optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
            from peft.optimizers import create_lorafa_optimizer

            return create_lorafa_optimizer(
                model, r=params.r, lora_alpha=params.alpha, lr=lr, weight_decay=0.0
            )

        return TrainingHooks(optimizer=optimizer)

    def footprint(self, arch: Architecture, params: LoRAParams) -> AdapterFootprint:
        b_only = sum(params.r * out for _, out, _ in arch.target_shapes(params.target_modules))
        stored = low_rank_footprint(arch, params.target_modules, params.r).stored
        return AdapterFootprint(trainable=b_only, gradient=b_only, stored=stored)
