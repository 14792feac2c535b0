"""An exact vLLM weight sync for PEFT models: the frozen base stays bitwise what it was.

TRL 1.16 pushes a PEFT policy into vLLM once per update by ``merge_adapter()``, reading every
parameter, then ``unmerge_adapter()`` (``VLLMGeneration._iter_named_params``). In floating point
``(W + D) - D`` is not ``W``: peft's merge rounds once into W's dtype, its unmerge rounds D first and
again after subtracting (DoRA divides by a norm as well). Each sync moves about one coordinate in
nine of the "frozen" weights by an ulp, and over hundreds of updates that is a random walk of the
base (in bf16, coordinates 1e-2 away after 200 syncs). Here each adapted layer is merged on its
own, read, unmerged, and its base tensors then copied back from a one-layer copy taken before the
merge: vLLM receives bitwise what TRL's walk sends, and the base never moves. It works for every
peft tuner with merge/unmerge (LoRA and its variants, DoRA, VeRA, IA3, AdaLoRA), which an
out-of-place ``W + delta`` would not (it needs each tuner's delta formula).

Only the single-process and DDP walk is replaced: under FSDP or ZeRO-3, TRL's gathered walk stays.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import torch

MODULES_TO_SAVE = "modules_to_save.default."


def exact_peft_params(generation: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """TRL's PEFT weight walk (names and merged values vLLM expects), with every frozen tensor
    restored bitwise after its layer is unmerged. ``generation`` is TRL's ``VLLMGeneration``."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    model = generation.model
    layers = {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, BaseTunerLayer) and module.active_adapters and not module.merged
    }

    def vllm_name(name: str) -> str:  # TRL's renaming (vllm_generation.py, _iter_named_params)
        name = name.removeprefix("base_model.model.").replace(".base_layer", "")
        return generation._fix_param_name_to_vllm(name, extra_prefixes=[MODULES_TO_SAVE])

    with torch.no_grad():
        for module_name, module in layers.items():
            base = module.get_base_layer()
            saved = [(p, p.detach().clone()) for p in base.parameters(recurse=False)]
            module.merge()
            try:
                for name, p in base.named_parameters(recurse=False):
                    yield vllm_name(f"{module_name}.base_layer.{name}"), p.data
            finally:
                module.unmerge()
                for p, keep in saved:
                    p.data.copy_(keep)
        inside = tuple(f"{name}." for name in layers)
        for name, p in model.named_parameters():
            if name.startswith(inside) or model.prefix in name or "original_module" in name:
                continue
            yield vllm_name(name), p.data


def install_exact_sync(generation: Any) -> bool:
    """Replaces TRL's PEFT walk on ``generation`` (a ``VLLMGeneration``) with ``exact_peft_params``
    when the model is a PEFT model and the launch is not sharded; returns whether it did."""
    from accelerate.utils import is_peft_model

    if generation is None or not is_peft_model(generation.model):
        return False
    dist = generation._dist
    if getattr(dist, "is_fsdp", False) or getattr(dist, "is_zero3", False):
        return False  # the parameters must be gathered whole before merging: TRL's walk does that
    generation._iter_named_params = types.MethodType(exact_peft_params, generation)
    return True
