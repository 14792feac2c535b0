"""Residual low-rank adapters: PiSSA, OLoRA, MiLoRA, GeoRA (``docs/methods.md``).

Each wraps the target linears in peft LoRA layers whose initial product ``s B A`` is a chosen
part of the base weight ``W``, and replaces the frozen base weight by the residual
``W_res = W - s B A``, so that the wrapped model computes what the base did. PiSSA and OLoRA are
peft's own inits; MiLoRA and GeoRA are not in peft, so we create plain LoRA layers and overwrite
their factors and base weights from :mod:`peft_rlvr_bench.adapters.svd_math`.

What the harness must know (``rewrites_base = True``):

- "Adapter disabled" is the residual model, not the base. The original weights are needed for
  the KL reference and every weight metric; the caller snapshots them **before** ``apply``.
  ``apply`` never writes into a tensor the caller may hold: rewritten weights get fresh storage,
  so even a ``model.state_dict()`` taken before ``apply`` without cloning still holds ``W0``.
  (peft's OLoRA init alone subtracts in place; we give its targets fresh storage first.)
- ``merge`` gives the effective weights ``W_res + s B A`` (peft ``merge_and_unload``), which at
  init equal ``W0`` up to rounding of the residual into the base dtype.
- Handing the wrapped model to TRL together with a ``peft_config`` would re-run the init on top
  of the residual: pass the wrapped model and no config.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from peft_rlvr_bench.adapters import (
    AdapterDefaults,
    AdapterFootprint,
    AdapterParams,
    ApplyContext,
    block_linear_names,
    low_rank_footprint,
)
from peft_rlvr_bench.registry import register_adapter

if TYPE_CHECKING:
    import torch
    from torch import nn

    from peft_rlvr_bench.architecture import Architecture

    Init = Callable[[torch.Tensor, float], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    """(W, scale) -> (A, B, W_res), as the functions of ``svd_math`` compute them."""

ADAPTER_NAME = "default"


class _Residual(AdapterDefaults):
    """What the residual methods share: they rewrite the base, merge by peft, train A and B."""

    rewrites_base: ClassVar[bool] = True

    def merge(self, model: nn.Module) -> nn.Module:
        return model.merge_and_unload()

    def footprint(self, arch: Architecture, params: _LowRankParams) -> AdapterFootprint:
        return low_rank_footprint(arch, params.target_modules, params.r)


class _LowRankParams(AdapterParams):
    rank_field: ClassVar[str | None] = "r"

    r: int = Field(8, gt=0, description="rank; at most min(out, in) of every target module")
    dropout: float = Field(0.0, ge=0, lt=1)


class PiSSAParams(_LowRankParams):
    alpha: float = Field(16.0, gt=0, description="scaling numerator: s = alpha / r")
    niter: int | None = Field(
        None,
        ge=0,
        description="subspace iterations of peft's randomized SVD ('pissa_niter_K'); None: exact SVD",
    )


class OLoRAParams(_LowRankParams):
    alpha: float = Field(16.0, gt=0, description="scaling numerator: s = alpha / r")


class MiLoRAParams(_LowRankParams):
    alpha: float | None = Field(
        None, gt=0, description="scaling numerator: s = alpha / r; None means alpha = r (s = 1)"
    )


class GeoRAParams(_LowRankParams):
    alpha: float | None = Field(
        None, gt=0, description="scaling numerator: s = alpha / r; None means alpha = r (s = 1)"
    )
    rho: float = Field(0.2, gt=0, le=1, description="fraction of each matrix in each of the two masks")


@register_adapter("pissa")
class PiSSA(_Residual):
    """Top-r singular triplets train, the rest is frozen (peft ``init_lora_weights="pissa"``)."""

    Params: ClassVar[type[AdapterParams]] = PiSSAParams

    def apply(self, model: nn.Module, params: PiSSAParams, context: ApplyContext) -> nn.Module:
        init = "pissa" if params.niter is None else f"pissa_niter_{params.niter}"
        return _wrap(model, params, params.alpha, init, context.seed)


@register_adapter("olora")
class OLoRA(_Residual):
    """QR of W: ``B = Q_r``, ``A = R_r`` train, ``W - s Q_r R_r`` is frozen (peft ``"olora"``)."""

    Params: ClassVar[type[AdapterParams]] = OLoRAParams

    def apply(self, model: nn.Module, params: OLoRAParams, context: ApplyContext) -> nn.Module:
        return _wrap(model, params, params.alpha, "olora", context.seed)


@register_adapter("milora")
class MiLoRA(_Residual):
    """The last r singular triplets train, the rest is frozen (svd_math.minor_init)."""

    Params: ClassVar[type[AdapterParams]] = MiLoRAParams

    def apply(self, model: nn.Module, params: MiLoRAParams, context: ApplyContext) -> nn.Module:
        from peft_rlvr_bench.adapters.svd_math import minor_init  # torch: only when applied

        alpha = params.r if params.alpha is None else params.alpha
        wrapped = _wrap(model, params, alpha, True, context.seed)
        _rewrite(wrapped, lambda W, scale: minor_init(W, params.r, scale))
        return wrapped


@register_adapter("geora")
class GeoRA(_Residual):
    """Top-r SVD of the spectrally and Euclidean-masked weight trains (svd_math.geora_init)."""

    Params: ClassVar[type[AdapterParams]] = GeoRAParams

    def apply(self, model: nn.Module, params: GeoRAParams, context: ApplyContext) -> nn.Module:
        from peft_rlvr_bench.adapters.svd_math import geora_init  # torch: only when applied

        alpha = params.r if params.alpha is None else params.alpha
        wrapped = _wrap(model, params, alpha, True, context.seed)
        _rewrite(wrapped, lambda W, scale: geora_init(W, params.r, params.rho, scale))
        return wrapped


def _wrap(model: nn.Module, params: _LowRankParams, alpha: float, init: bool | str, seed: int) -> nn.Module:
    """peft LoRA layers on the target linears, after checking that each can hold rank r."""
    import torch
    from peft import LoraConfig, get_peft_model
    from peft.tuners.tuners_utils import check_target_module_exists

    config = LoraConfig(
        r=params.r,
        lora_alpha=alpha,
        lora_dropout=params.dropout,
        target_modules=params.target_modules or block_linear_names(model),
        bias="none",
        task_type="CAUSAL_LM",
        init_lora_weights=init,
    )
    for name, module in model.named_modules():
        if not check_target_module_exists(config, name):
            continue
        if not isinstance(module, torch.nn.Linear):
            raise ValueError(f"{name}: residual adapters need nn.Linear targets, got {type(module).__name__}")
        if params.r > min(module.weight.shape):
            # peft would silently build a smaller rank from the truncated SVD or QR
            raise ValueError(
                f"{name}: rank r={params.r} exceeds min(out, in)={min(module.weight.shape)}; "
                "lower r or leave this module out of target_modules"
            )
        # peft's OLoRA init subtracts in place; fresh storage keeps tensors the caller holds at W0
        module.weight.data = module.weight.data.clone()
    cuda = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    # the run's seed makes the randomized SVD (pissa_niter_K) reproducible without moving the caller's RNG
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        return get_peft_model(model, config)


def _rewrite(peft_model: nn.Module, init: Init) -> None:
    """Overwrites every LoRA linear's factors and base weight with ``init``'s (A, B, W_res)."""
    import torch
    from peft.tuners.lora import LoraLayer

    with torch.no_grad():
        for name, module in peft_model.named_modules():
            if not isinstance(module, LoraLayer):
                continue
            base = module.get_base_layer()
            if not isinstance(base, torch.nn.Linear) or ADAPTER_NAME not in module.lora_A:
                raise ValueError(
                    f"{name}: residual adapters need nn.Linear targets, got {type(base).__name__}"
                )
            A, B, W_res = init(base.weight.to(torch.float64), module.scaling[ADAPTER_NAME])
            lora_A = module.lora_A[ADAPTER_NAME].weight
            lora_B = module.lora_B[ADAPTER_NAME].weight
            # cast from float64 once per tensor: factors keep peft's (float32) dtype, the residual the base's
            lora_A.data = A.to(lora_A.dtype)
            lora_B.data = B.to(lora_B.dtype)
            base.weight.data = W_res.to(base.weight.dtype)
