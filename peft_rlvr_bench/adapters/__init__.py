"""Adapters: how a base model is made trainable. One module per method, registered by name.

Low-rank and sparse methods share little, so the interface is a ``Protocol``, not a base class.
Every adapter module imports torch and peft only inside its functions, so ``prb validate`` and
``prb list`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from torch import nn


class AdapterParams(BaseModel):
    """Parameters every adapter shares; each adapter extends this with its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_modules: list[str] | None = Field(
        None,
        description="module name suffixes to adapt; default: every linear layer of the blocks "
        "(the same set for all methods, never peft's per-architecture default)",
    )


class Adapter(Protocol):
    """A PEFT method. ``apply`` returns the module to train; ``merge`` its effective weights."""

    Params: ClassVar[type[AdapterParams]]

    def apply(self, model: nn.Module, params: Any) -> nn.Module:
        """Wraps ``model`` (already on its device) so that only the method's parameters train."""
        ...

    def merge(self, model: nn.Module) -> nn.Module:
        """A plain model with the effective weights, for evaluation and weight diagnostics."""
        ...


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
