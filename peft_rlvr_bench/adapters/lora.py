"""LoRA through peft's ``LoraConfig``, with explicit target modules."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from peft_rlvr_bench.adapters import AdapterParams, block_linear_names
from peft_rlvr_bench.registry import register_adapter

if TYPE_CHECKING:
    from torch import nn


class LoRAParams(AdapterParams):
    r: int = Field(8, gt=0, description="rank")
    alpha: float = Field(16.0, gt=0, description="scaling numerator: s = alpha / r")
    dropout: float = Field(0.0, ge=0, lt=1)


@register_adapter("lora")
class LoRA:
    Params: ClassVar[type[AdapterParams]] = LoRAParams

    def apply(self, model: nn.Module, params: LoRAParams) -> nn.Module:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=params.r,
            lora_alpha=params.alpha,
            lora_dropout=params.dropout,
            target_modules=params.target_modules or block_linear_names(model),
            bias="none",
            task_type="CAUSAL_LM",
        )
        return get_peft_model(model, config)

    def merge(self, model: nn.Module) -> nn.Module:
        return model.merge_and_unload()
