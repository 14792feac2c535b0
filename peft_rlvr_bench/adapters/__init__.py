"""Adapters: how a base model is made trainable. One module per method, registered by name.

Low-rank and sparse methods share little, so the interface is a ``Protocol``, not a base class;
``AdapterDefaults`` gives the members most methods do not change. Every adapter module imports
torch and peft only inside its functions, so ``prb validate`` and ``prb list`` stay fast. Each
adapter also says what it trains from the architecture alone (``footprint``), for the memory
estimate of a dry run; a test holds every footprint to the count on the wrapped model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import ConfigDict, Field

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.schema import InputModel

if TYPE_CHECKING:
    import torch
    from torch import nn

    from peft_rlvr_bench.architecture import Architecture


class AdapterParams(InputModel):
    """Parameters every adapter shares; each adapter extends this with its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_modules: list[str] | None = Field(
        None,
        description="module name suffixes to adapt; default: every linear layer of the blocks "
        "(the same set for all methods, never peft's per-architecture default)",
    )

    rank_field: ClassVar[str | None] = None
    """The parameter that is a rank of every adapted matrix (``r``): suite validation checks it
    against min(out, in) of the model's matrices when the model's config is at hand."""

    def required_runs(self) -> dict[str, str]:
        """Runs of the same suite and seed this one needs first: {role: adapter name}."""
        return {}


@dataclass
class ApplyContext:
    """What an adapter may need beyond the model: the run's seed and finished dependencies."""

    seed: int = 0
    total_updates: int = 0
    """The run's optimizer-update budget (AdaLoRA schedules its rank budget over it)."""
    dependency_dirs: dict[str, Path] = field(default_factory=dict)
    """Final weights of runs this one depends on, by role (e.g. ``"rl_delta"``)."""


@dataclass
class TrainingHooks:
    """How an adapter reaches into the training loop, when applying it is not enough."""

    optimizer: Callable[[nn.Module, float], torch.optim.Optimizer] | None = None
    """Builds the optimizer from (model, learning rate); None means the trainer's AdamW."""
    callbacks: list[Any] = field(default_factory=list)
    """transformers ``TrainerCallback``s, e.g. AdaLoRA's rank reallocation after each update."""
    extra_loss: Callable[[nn.Module], torch.Tensor] | None = None
    """A term added to the RL loss, e.g. AdaLoRA's orthogonality regulariser."""


@dataclass(frozen=True)
class AdapterFootprint:
    """What an adapter trains and holds, counted from the architecture (``Adapter.footprint``)."""

    trainable: int | None
    """What ``trainable_parameters`` counts on the wrapped model; None when it depends on the
    weights themselves (a sparse mask built from W0 or from another run)."""
    gradient: int
    """Parameters holding gradients and optimizer state (a sparse mask: its dense target weights)."""
    stored: int
    """Adapter weights held besides the base (LoRA-FA's frozen A included)."""
    mask_targets: int = 0
    """Sparse: coordinates of the masked weights."""

    @classmethod
    def dense(cls, count: int) -> AdapterFootprint:
        """``count`` parameters that all train, are all stored and all hold gradients."""
        return cls(trainable=count, gradient=count, stored=count)


class Adapter(Protocol):
    """A PEFT method. ``apply`` returns the module to train; ``merge`` its effective weights.

    Every member is required; ``AdapterDefaults`` provides ``rewrites_base``, ``resumable``,
    ``hooks`` and ``trainable_parameters`` for methods that need nothing special.
    """

    Params: ClassVar[type[AdapterParams]]
    rewrites_base: ClassVar[bool]
    """True when ``apply`` replaces base weights by a residual (PiSSA, OLoRA, MiLoRA, GeoRA): then
    "adapter disabled" is not the base model, and KL must be taken against a kept copy."""
    resumable: ClassVar[bool]
    """False when the method keeps training state outside a trainer checkpoint (AdaLoRA's
    importance averages): a killed run of it restarts instead of resuming."""

    def apply(self, model: nn.Module, params: Any, context: ApplyContext) -> nn.Module:
        """Wraps ``model`` (already on its device) so that only the method's parameters train."""
        ...

    def hooks(self, model: nn.Module, params: Any) -> TrainingHooks:
        """Optimizer, callbacks and loss terms the method needs during training."""
        ...

    def merge(self, model: nn.Module) -> nn.Module:
        """A plain model with the effective weights, for evaluation and weight diagnostics."""
        ...

    def trainable_parameters(self, model: nn.Module) -> int:
        """Coordinates the method can change (a masked weight counts only its mask)."""
        ...

    def footprint(self, arch: Architecture, params: Any) -> AdapterFootprint:
        """The counts of ``AdapterFootprint`` on a model of ``arch``, without building it; raises
        ``UserError`` when the method has no formula (the memory estimate skips it)."""
        ...


class AdapterDefaults:
    """Defaults for adapters that need nothing from the training loop beyond ``apply``."""

    rewrites_base: ClassVar[bool] = False
    resumable: ClassVar[bool] = True

    def hooks(self, model: nn.Module, params: Any) -> TrainingHooks:
        return TrainingHooks()

    def trainable_parameters(self, model: nn.Module) -> int:
        return count_parameters(model)[0]

    def footprint(self, arch: Architecture, params: Any) -> AdapterFootprint:
        raise UserError(f"adapter {type(self).__name__}: no memory formula; the estimate is skipped for it")


NoHooks = AdapterDefaults
"""The name third-party adapters written before ``AdapterDefaults`` use."""


def low_rank_footprint(arch: Architecture, targets: list[str] | None, r: int) -> AdapterFootprint:
    """A and B of rank ``r`` on every target: ``r (in + out)`` each."""
    return AdapterFootprint.dense(sum(r * (out + inp) for _, out, inp in arch.target_shapes(targets)))


def block_linear_names(model: nn.Module) -> list[str]:
    """Suffixes of every ``nn.Linear`` inside the transformer blocks (not the LM head)."""
    from torch import nn

    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and ".layers." in f".{name}"
    }
    if not names:
        raise ValueError("found no linear layers inside '.layers.' blocks; set target_modules explicitly")
    return sorted(names)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
