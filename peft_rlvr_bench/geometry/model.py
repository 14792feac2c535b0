"""The geometry of a trained model against W0: what a run's result records."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from torch import Tensor, nn

from peft_rlvr_bench.geometry.summary import GeometryParams, GeometrySummary, summarise


def model_geometry(
    base_state: Mapping[str, Tensor], model: nn.Module, params: GeometryParams | None = None
) -> GeometrySummary:
    """The geometry of ``model``'s parameters (the effective, merged weights) against ``base_state``.

    ``base_state`` is the original W0 by parameter name (for residual adapters, taken before the
    adapter rewrote the base). Tensors are compared one at a time on the model's device.
    """
    tuned = dict(model.named_parameters())
    missing = sorted(set(base_state) - set(tuned))
    if missing:
        raise ValueError(f"the tuned model lacks base parameters {missing[:3]}; is it merged?")

    def pairs() -> Iterator[tuple[str, Tensor, Tensor]]:
        for name, w0 in base_state.items():
            weight = tuned[name].detach()
            yield name, w0.to(weight.device), weight

    return summarise(pairs(), params)


def run_geometry(w0: Mapping[str, Tensor], merged: nn.Module) -> dict[str, Any]:
    """A run's weight geometry against W0 for its result: the summary without per-tensor records,
    which ``prb analyze --base BASE --tuned <run>/final`` gives for any saved run."""
    return model_geometry(w0, merged).model_dump(mode="json", exclude={"tensors"})
