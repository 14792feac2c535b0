"""Sparse subnetwork fine-tuning: full fine-tuning restricted by a mask per weight (``docs/methods.md``,
"Sparse subnetwork masks").

The mask binds twice. A gradient hook zeroes the gradient of frozen coordinates, so gradient
clipping and the optimizer's moments see only the subnetwork. That alone is not enough: AdamW's
decoupled weight decay (and momentum from any earlier nonzero gradient) still moves coordinates
whose gradient is zero. So a ``TrainerCallback`` restores the frozen coordinates to their saved
values, bitwise, right after every ``optimizer.step()``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_serializer, model_validator

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
    from transformers import TrainerCallback

    from peft_rlvr_bench.architecture import Architecture

MaskSource = Literal["off_principal", "principal", "random", "rl_delta"]
DeltaDType = Literal["bfloat16", "float16", "float32", "stored"]
"""The choices of the geometry summary's ``sparsity_dtype``; "stored" is the base's dtype as loaded."""


class SparseParams(AdapterParams):
    mask: MaskSource = Field(
        "off_principal",
        description="where the mask comes from: off_principal (M_low OR NOT M_princ), principal "
        "(M_princ, negative control), random, or rl_delta (coordinates a finished full run changed, "
        "compared at delta_dtype)",
    )
    density: float = Field(0.05, gt=0, le=1, description="fraction of coordinates trained by the random mask")
    k: int = Field(16, gt=0, description="rank of the reconstruction that defines M_princ")
    alpha: float = Field(0.5, ge=0, le=1, description="fraction taken by M_princ and by M_low")
    delta_dtype: DeltaDType = Field(
        "bfloat16",
        description="rl_delta only: the dtype in which W0 and the full run's final weights are compared "
        "bitwise (bfloat16, as the papers and the geometry's update sparsity; float32 marks nearly every "
        "coordinate)",
    )

    def required_runs(self) -> dict[str, str]:
        return {"rl_delta": "full"} if self.mask == "rl_delta" else {}

    @model_validator(mode="after")
    def _delta_dtype_needs_rl_delta(self) -> SparseParams:
        if "delta_dtype" in self.model_fields_set and self.mask != "rl_delta":
            raise ValueError(f"delta_dtype applies to mask 'rl_delta' only, not {self.mask!r}; remove it")
        return self

    @model_serializer(mode="wrap")
    def _delta_dtype_only_for_rl_delta(self, handler: Any) -> dict[str, Any]:
        # Only rl_delta reads delta_dtype: a resolved spec holds it for that mask alone, so the
        # spec validates again (the check above) and other masks' ids do not name it.
        data = handler(self)
        if self.mask != "rl_delta":
            data.pop("delta_dtype", None)
        return data


@dataclass
class MaskedWeight:
    """One target weight with its mask and the saved values of its frozen coordinates."""

    name: str
    param: nn.Parameter
    mask: torch.Tensor
    """True where the coordinate trains."""
    frozen_values: torch.Tensor
    """``param[~mask]`` at apply time, 1-D in row-major order: only what restoring needs."""

    def follow(self, param: torch.Tensor) -> None:
        """Moves mask and saved values to the parameter's device, if the trainer moved the model."""
        if self.mask.device != param.device:
            self.mask = self.mask.to(param.device)
            self.frozen_values = self.frozen_values.to(param.device)


def restore_masked_(param: torch.Tensor, mask: torch.Tensor, original_values: torch.Tensor) -> None:
    """Writes the original values back into the frozen coordinates (``~mask``) of ``param``, in place.

    ``original_values`` is either the 1-D vector ``original[~mask]`` (row-major, as boolean
    indexing returns it) or a tensor of ``param``'s shape. Copying saved values, rather than
    undoing the update arithmetically, makes the result bitwise equal to the original.
    """
    import torch

    frozen = ~mask.to(param.device)
    if original_values.shape == param.shape:
        original_values = original_values[frozen.to(original_values.device)]
    with torch.no_grad():
        param.data[frozen] = original_values.to(device=param.device, dtype=param.dtype)


def mask_restore_callback(weights: list[MaskedWeight]) -> TrainerCallback:
    """A ``TrainerCallback`` that restores every frozen coordinate after each optimizer step.

    It acts on ``on_optimizer_step``, which transformers' Trainer (and so TRL's GRPOTrainer)
    calls immediately after ``optimizer.step()`` and before the LR scheduler, ``zero_grad``,
    ``on_step_end`` and any save or log: every checkpoint, trajectory record and vLLM weight sync
    sees the masked weights.
    """
    from transformers import TrainerCallback

    class MaskRestoreCallback(TrainerCallback):
        def __init__(self, weights: list[MaskedWeight]) -> None:
            self.weights = weights

        def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            for weight in self.weights:
                weight.follow(weight.param)
                restore_masked_(weight.param, weight.mask, weight.frozen_values)

    return MaskRestoreCallback(weights)


def _target_weights(model: nn.Module, targets: list[str]) -> list[tuple[str, nn.Parameter]]:
    """(parameter name, weight) of every module whose name ends with a target suffix, as peft matches."""
    found: dict[int, tuple[str, nn.Parameter]] = {}
    for module_name, module in model.named_modules():
        if not any(module_name == t or module_name.endswith(f".{t}") for t in targets):
            continue
        weight = getattr(module, "weight", None)
        if weight is None or weight.ndim != 2:
            raise ValueError(f"sparse masks need a 2-D weight; {module_name!r} has none")
        found.setdefault(id(weight), (f"{module_name}.weight", weight))  # tied weights count once
    if not found:
        raise ValueError(f"no module matches target_modules {targets}")
    return list(found.values())


def _load_final_weights(context: ApplyContext) -> dict[str, torch.Tensor]:
    """The final state dict of the ``rl_delta`` dependency: one file or HF-sharded safetensors."""
    import json

    from safetensors.torch import load_file

    directory = context.dependency_dirs.get("rl_delta")
    if directory is None:
        raise ValueError(
            "sparse mask 'rl_delta' needs the final weights of a finished full run: "
            "no 'rl_delta' dependency was given"
        )
    directory = Path(directory)
    single, index = directory / "model.safetensors", directory / "model.safetensors.index.json"
    if single.is_file():
        return load_file(single)
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        return {key: value for shard in shards for key, value in load_file(directory / shard).items()}
    raise ValueError(f"rl_delta dependency {directory} has no model.safetensors (nor a sharded index)")


@register_adapter("sparse")
class SparseFineTuning(AdapterDefaults):
    Params: ClassVar[type[AdapterParams]] = SparseParams

    def __init__(self) -> None:
        # apply() and hooks() are called on the same instance: the masks live here in between.
        self.weights: list[MaskedWeight] = []
        self._hook_handles: list[Any] = []

    def apply(self, model: nn.Module, params: SparseParams, context: ApplyContext) -> nn.Module:
        for handle in self._hook_handles:  # applying twice must not stack hooks
            handle.remove()
        self.weights, self._hook_handles = [], []

        targets = _target_weights(model, params.target_modules or block_linear_names(model))
        final = _load_final_weights(context) if params.mask == "rl_delta" else None
        for parameter in model.parameters():  # embeddings, norms, biases, lm_head stay at W0
            parameter.requires_grad_(False)

        for name, weight in targets:
            mask = self._mask(name, weight, params, context.seed, final).to(weight.device)
            frozen_values = weight.detach()[~mask].clone()
            weight.requires_grad_(True)
            self.weights.append(MaskedWeight(name, weight, mask, frozen_values))
            self._hook_handles.append(weight.register_hook(self._grad_hook(self.weights[-1])))
        return model

    @staticmethod
    def _grad_hook(weight: MaskedWeight) -> Any:
        def zero_frozen(grad: torch.Tensor) -> torch.Tensor:
            weight.follow(grad)
            # masked_fill, not a product: a NaN/inf gradient at a frozen coordinate must not leak.
            return grad.masked_fill(~weight.mask, 0)

        return zero_frozen

    @staticmethod
    def _mask(
        name: str,
        weight: nn.Parameter,
        params: SparseParams,
        seed: int,
        final: dict[str, torch.Tensor] | None,
    ) -> torch.Tensor:
        import torch

        from peft_rlvr_bench.adapters import masks

        if params.mask == "off_principal":
            return masks.off_principal_mask(weight, params.k, params.alpha)
        if params.mask == "principal":
            return masks.principal_mask(weight, params.k, params.alpha)
        if params.mask == "random":
            # One generator per weight, seeded from the run seed and the weight's name: a weight's
            # mask does not depend on which other weights are targeted or on their order.
            generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
            return masks.random_mask(weight.shape, params.density, generator)
        assert final is not None
        if name not in final:
            raise ValueError(
                f"rl_delta checkpoint has no tensor {name!r}; was it trained from this base model?"
            )
        stored = final[name]
        if stored.shape != weight.shape:
            raise ValueError(
                f"rl_delta tensor {name!r} has shape {tuple(stored.shape)}, base has {tuple(weight.shape)}"
            )
        # The geometry's own comparison, so the mask is exactly the coordinates its update
        # sparsity counts as changed (at bf16 by default, where fp32 drift rounds away).
        from peft_rlvr_bench.geometry.maths import unchanged_mask

        dtype = None if params.delta_dtype == "stored" else getattr(torch, params.delta_dtype)
        return ~unchanged_mask(weight, stored, dtype)

    def hooks(self, model: nn.Module, params: SparseParams) -> TrainingHooks:
        if not self.weights:
            raise RuntimeError("call apply() before hooks(): the callback needs the masks")
        return TrainingHooks(callbacks=[mask_restore_callback(self.weights)])

    def merge(self, model: nn.Module) -> nn.Module:
        # Frozen coordinates are restored in place after every step: the model is its own merge.
        return model

    def trainable_parameters(self, model: nn.Module) -> int:
        return self.trainable_coordinates(model)

    def footprint(self, arch: Architecture, params: SparseParams) -> AdapterFootprint:
        """Gradients and AdamW moments are dense over every target weight (the mask is applied to
        them); the trained count is exact for masks of a fixed share (``round(share * numel)``
        per weight) and known only once built for the others, which depend on the weights."""
        sizes = [out * inp for _, out, inp in arch.target_shapes(params.target_modules)]
        share = {"random": params.density, "principal": params.alpha}.get(params.mask)
        trainable = None if share is None else sum(round(share * size) for size in sizes)
        return AdapterFootprint(trainable=trainable, gradient=sum(sizes), stored=0, mask_targets=sum(sizes))

    def trainable_coordinates(self, model: nn.Module) -> int:
        """Coordinates that can change: True mask entries of bound weights, numel of any other trainable."""
        bound = {id(weight.param): weight for weight in self.weights}
        total = 0
        for parameter in model.parameters():
            if not parameter.requires_grad:
                continue
            weight = bound.get(id(parameter))
            total += int(weight.mask.sum()) if weight is not None else parameter.numel()
        return total

    def mask_stats(self) -> dict[str, float]:
        """Mask size actually used: trainable coordinates, target numel and their ratio."""
        trainable = sum(int(weight.mask.sum()) for weight in self.weights)
        numel = sum(weight.mask.numel() for weight in self.weights)
        return {
            "trainable_coordinates": float(trainable),
            "target_numel": float(numel),
            "mask_density": trainable / numel if numel else 0.0,
            "target_weights": float(len(self.weights)),
        }
