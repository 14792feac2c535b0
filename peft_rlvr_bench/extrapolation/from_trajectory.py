"""Whole-model checkpoints from a recorded trajectory: a recorded update, or an extrapolated one.

Both return the base state dict with the tensors the run changed replaced, so the result loads
into the base architecture like any checkpoint. Extrapolation streams tensor by tensor: only one
tensor's series is in memory at a time, never T checkpoints. Peft methods other than plain LoRA
(DoRA, VeRA, IA3, AdaLoRA, MiSS, LN tuning) are rebuilt at recorded updates only, through peft
itself on one copy of the base model, so their merge is peft's and never re-derived here.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from peft_rlvr_bench.extrapolation import extrapolate_state
from peft_rlvr_bench.registry import EXTRAPOLATORS
from peft_rlvr_bench.trajectory import (
    Trajectory,
    effective_series,
    effective_weight_names,
    rebuilds_per_tensor,
)

if TYPE_CHECKING:
    from torch import Tensor, nn


def parameter_snapshot(model: Any, device: Any = None) -> dict[str, Tensor]:
    """Detached copies of ``model``'s parameters (one name per tied parameter): the W0 state.

    ``device`` puts the copies elsewhere (e.g. ``"cpu"``, to keep W0 out of GPU memory).
    """
    return {
        name: parameter.detach().to(device or parameter.device, copy=True)
        for name, parameter in model.named_parameters()
    }


def effective_state_at(
    traj: Trajectory,
    base_state: Mapping[str, Tensor],
    update: int,
    base_model: nn.Module | None = None,
) -> dict[str, Tensor]:
    """The model's effective weights after ``update`` recorded optimizer updates.

    ``base_state`` is the run's W0 by parameter name. ``base_model`` is needed only for
    trajectories that ``rebuilds_per_tensor`` rejects: a module of the base architecture, of
    which only the structure is used (a copy gets ``base_state``), so a caller may pass the model
    it keeps overwriting with rebuilt states. Raises NotImplementedError where the trajectory
    cannot be rebuilt at all (a non-LoRA peft trajectory recorded before configs were kept).
    """
    if update not in traj.updates:
        raise ValueError(f"update {update} was not recorded; recorded: {traj.updates}")
    view = traj.upto(update)
    if not rebuilds_per_tensor(view):
        return _merged_by_peft(view, base_state, base_model)
    changed = {name: effective_series(view, base_state, name)[-1][1] for name in effective_weight_names(view)}
    return {**base_state, **changed}


def _merged_by_peft(
    view: Trajectory, base_state: Mapping[str, Tensor], base_model: nn.Module | None
) -> dict[str, Tensor]:
    """The weights peft's own ``merge_and_unload`` gives for the last record of ``view``.

    The adapter is re-applied from the config saved at update 0 to a fresh W0 copy and the
    recorded tensors overwrite every adapter tensor, so nothing from peft's (random) init
    survives; AdaLoRA's pruned ranks are in the record as zeroed ``lora_E`` entries.
    """
    import torch
    from peft import get_peft_model

    config = view.peft_config()
    if base_model is None:
        raise ValueError(
            f"{view.directory}: {config.peft_type} effective weights are rebuilt through peft; "
            "pass base_model, a module of the base architecture"
        )
    cuda = sorted({t.device.index or 0 for t in base_state.values() if t.device.type == "cuda"})
    # peft's init draws random numbers that the record overwrites; the caller's streams stay as they were.
    with torch.random.fork_rng(devices=cuda), warnings.catch_warnings():
        # The run's own apply already showed peft's warnings about this config (e.g. RMSNorm).
        warnings.filterwarnings("ignore", category=UserWarning, module=r"peft\.")
        model = load_weights_(copy.deepcopy(base_model), base_state)
        wrapped = get_peft_model(model, config, adapter_name=view.manifest.adapter or "default")
    _load_adapter_state_(wrapped, view.adapter_state(view.updates[-1]), view)
    with torch.no_grad():
        merged = dict(wrapped.merge_and_unload().named_parameters())
    missing = sorted(set(base_state) - set(merged))
    if missing:
        raise ValueError(f"the merged model lacks base weights {missing[:3]}; is base_model the run's base?")
    return {name: merged[name].detach() for name in base_state}


def _load_adapter_state_(model: nn.Module, state: Mapping[str, Tensor], view: Trajectory) -> None:
    """Copies the recorded adapter tensors into ``model``, which must have exactly those to train."""
    import torch

    slots = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    unknown = sorted(set(state) - set(slots))
    unset = sorted(name for name, p in model.named_parameters() if p.requires_grad and name not in state)
    if unknown or unset:
        raise ValueError(
            f"{view.directory}: the re-applied adapter does not match the record (not in the model: "
            f"{unknown[:3]}, not in the record: {unset[:3]}); is base_model the run's architecture?"
        )
    with torch.no_grad():
        for name, tensor in state.items():
            if slots[name].shape != tensor.shape:
                raise ValueError(
                    f"{name}: recorded shape {tuple(tensor.shape)}, re-applied {tuple(slots[name].shape)}"
                )
            slots[name].copy_(tensor)


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
