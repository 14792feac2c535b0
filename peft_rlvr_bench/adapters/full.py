"""Full fine-tuning: every parameter trains. The reference point for every PEFT method."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from peft_rlvr_bench.adapters import AdapterDefaults, AdapterFootprint, AdapterParams, ApplyContext
from peft_rlvr_bench.registry import register_adapter

if TYPE_CHECKING:
    from torch import nn

    from peft_rlvr_bench.architecture import Architecture


class FullParams(AdapterParams):
    pass


@register_adapter("full")
class FullFineTuning(AdapterDefaults):
    Params: ClassVar[type[AdapterParams]] = FullParams

    def apply(self, model: nn.Module, params: FullParams, context: ApplyContext) -> nn.Module:
        if params.target_modules is not None:
            raise ValueError("full fine-tuning trains every parameter; remove target_modules")
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        return model

    def merge(self, model: nn.Module) -> nn.Module:
        return model

    def footprint(self, arch: Architecture, params: FullParams) -> AdapterFootprint:
        return AdapterFootprint(trainable=arch.parameters(), gradient=arch.parameters(), stored=0)
