"""Whole-model checkpoints from a recorded trajectory: a recorded update, or an extrapolated one.

Both return the base state dict with the tensors the run changed replaced, so the result loads
into the base architecture like any checkpoint. Extrapolation streams tensor by tensor: only one
tensor's series is in memory at a time, never T checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from peft_rlvr_bench.extrapolation import extrapolate_state
from peft_rlvr_bench.registry import EXTRAPOLATORS
from peft_rlvr_bench.trajectory import Trajectory, effective_series, effective_weight_names

if TYPE_CHECKING:
    from torch import Tensor


def parameter_snapshot(model: Any) -> dict[str, Tensor]:
    """Detached copies of ``model``'s parameters (one name per tied parameter): the W0 state."""
    return {name: parameter.detach().clone() for name, parameter in model.named_parameters()}


def effective_state_at(traj: Trajectory, base_state: Mapping[str, Tensor], update: int) -> dict[str, Tensor]:
    """The model's effective weights after ``update`` recorded optimizer updates."""
    if update not in traj.updates:
        raise ValueError(f"update {update} was not recorded; recorded: {traj.updates}")
    view = traj.upto(update)
    changed = {name: effective_series(view, base_state, name)[-1][1] for name in effective_weight_names(view)}
    return {**base_state, **changed}


def extrapolated_state(
    traj: Trajectory,
    base_state: Mapping[str, Tensor],
    method: str,
    params: Mapping[str, Any],
    observe: int,
    target: int,
) -> dict[str, Tensor]:
    """The weights ``method`` predicts at ``target`` from the records up to ``observe`` updates."""
    extrapolator = EXTRAPOLATORS.get(method)()
    view = traj.upto(observe)

    def trajectory_of(name: str) -> list[Tensor]:
        return [weight for _, weight in effective_series(view, base_state, name)]

    predictions = extrapolate_state(
        extrapolator,
        extrapolator.Params.model_validate(dict(params)),
        effective_weight_names(view),
        base_state.__getitem__,
        trajectory_of,
        view.updates,
        target,
    )
    return {**base_state, **dict(predictions)}


def load_weights_(model: Any, state: Mapping[str, Tensor]) -> Any:
    """Copies ``state`` into ``model``'s parameters in place and returns the model.

    Goes through ``named_parameters`` (one name per tied parameter) rather than
    ``load_state_dict``, where a tied ``lm_head.weight`` still holding W0 could overwrite the
    embedding it shares storage with.
    """
    import torch

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            parameter.copy_(state[name])
    return model
