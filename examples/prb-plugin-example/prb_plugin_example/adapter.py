"""``lora_ln``: LoRA on the usual targets, plus every normalisation layer trained in full.

A small, real variant: one module, one decorator, a parameter model.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from peft_rlvr_bench import AdapterParams, register_adapter
from peft_rlvr_bench.adapters import (
    AdapterDefaults,
    AdapterFootprint,
    ApplyContext,
    block_linear_names,
    low_rank_footprint,
)
from peft_rlvr_bench.adapters.peft_family import norm_layer_names
from peft_rlvr_bench.architecture import Architecture


class LoRALNParams(AdapterParams):
    r: int = Field(8, gt=0)
    alpha: float = Field(16.0, gt=0)


@register_adapter("lora_ln")
class LoRAWithNorms(AdapterDefaults):
    Params: ClassVar[type[AdapterParams]] = LoRALNParams

    def apply(self, model: Any, params: LoRALNParams, context: ApplyContext) -> Any:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=params.r,
            lora_alpha=params.alpha,
            target_modules=params.target_modules or block_linear_names(model),
            modules_to_save=norm_layer_names(model),  # trained copies, saved with the adapter
            task_type="CAUSAL_LM",
        )
        return get_peft_model(model, config)

    def merge(self, model: Any) -> Any:
        return model.merge_and_unload()

    def footprint(self, arch: Architecture, params: LoRALNParams) -> AdapterFootprint:
        """For ``prb run --dry-run``: the LoRA factors plus every norm weight."""
        lora = low_rank_footprint(arch, params.target_modules, params.r)
        return AdapterFootprint.dense(lora.gradient + arch.norm_parameters())
