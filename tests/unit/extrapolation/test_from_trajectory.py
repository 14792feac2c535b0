"""Effective weights of peft methods beyond LoRA factors, rebuilt through peft from a trajectory.

Training is simulated by seeded noise on every trainable tensor (and, for AdaLoRA, peft's own
rank pruning), so each method's merge must account for every kind of adapter tensor it has.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from peft_rlvr_bench.adapters import ApplyContext
from peft_rlvr_bench.extrapolation.from_trajectory import effective_state_at, parameter_snapshot
from peft_rlvr_bench.registry import ADAPTERS
from peft_rlvr_bench.trajectory import (
    MANIFEST,
    Trajectory,
    TrajectoryRecorder,
    effective_series,
    effective_weight_names,
    rebuilds_per_tensor,
)
from tests.helpers.tiny_models import VOCAB, tiny_model
from tests.registry.test_adapters import CASES

METHODS = ["dora", "vera", "ia3", "adalora", "miss", "ln_tuning"]
INPUTS = torch.randint(0, VOCAB, (2, 8), generator=torch.Generator().manual_seed(0))
# AdaLoRA's schedule over 10 updates (tinit 1, tfinal 3) prunes to about its target budget at update 6.
TOTAL_UPDATES, ADALORA_PRUNING_STEP = 10, 6


def applied(method: str) -> nn.Module:
    adapter = ADAPTERS.get(method)()
    params = adapter.Params.model_validate(CASES[method][0])
    return adapter.apply(tiny_model(), params, ApplyContext(total_updates=TOTAL_UPDATES))


def merged_weights(method: str, model: nn.Module) -> dict[str, torch.Tensor]:
    """The harness adapter's own merge of ``model``, which stays untouched."""
    merged = ADAPTERS.get(method)().merge(copy.deepcopy(model))
    return {name: p.detach() for name, p in merged.named_parameters()}


def simulate_training(method: str, model: nn.Module) -> None:
    """Stands in for optimizer updates: moves every trainable tensor, and prunes AdaLoRA's ranks."""
    if method == "adalora":  # the rank allocator scores importance from gradients
        model(input_ids=INPUTS, labels=INPUTS).loss.backward()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    if method == "adalora":
        model.base_model.update_and_allocate(ADALORA_PRUNING_STEP)
        model.zero_grad()


def record_two_updates(method: str, directory: Path) -> nn.Module:
    """Applies ``method``, records update 0, simulates training, records update 1; returns the model."""
    model = applied(method)
    recorder = TrajectoryRecorder(directory, every=1, base_reference="tiny-llama")
    recorder.record(model, 0)
    simulate_training(method, model)
    recorder.record(model, 1)
    return model


@pytest.mark.parametrize("method", METHODS)
def test_effective_state_is_w0_at_update_0_and_the_adapter_merge_after(method: str, tmp_path: Path) -> None:
    base_state = parameter_snapshot(tiny_model())
    model = record_two_updates(method, tmp_path)
    expected = merged_weights(method, model)
    traj = Trajectory(tmp_path)
    assert traj.kind == "peft" and not rebuilds_per_tensor(traj)

    # Different weights, same architecture: the rebuild must take W0 from base_state alone.
    other = tiny_model(seed=1)
    rng = torch.get_rng_state()
    at_0 = effective_state_at(traj, base_state, 0, base_model=other)
    at_1 = effective_state_at(traj, base_state, 1, base_model=other)
    assert torch.equal(torch.get_rng_state(), rng)
    assert sorted(at_1) == sorted(base_state) == sorted(expected)
    for name, w0 in base_state.items():
        torch.testing.assert_close(at_0[name], w0, atol=1e-6, rtol=0)
        torch.testing.assert_close(at_1[name], expected[name], atol=1e-6, rtol=0)

    moved = {name for name, w0 in base_state.items() if (expected[name] - w0).abs().max() > 1e-3}
    assert moved and moved == set(effective_weight_names(traj))


def test_adalora_pruned_ranks_are_part_of_the_rebuilt_state(tmp_path: Path) -> None:
    base_state = parameter_snapshot(tiny_model())
    model = record_two_updates("adalora", tmp_path)
    singular = [p for name, p in model.named_parameters() if ".lora_E." in name]
    assert any((values == 0).any() for values in singular) and any((values != 0).any() for values in singular)
    traj = Trajectory(tmp_path)
    assert traj.manifest.frozen is not None
    assert all(".ranknum." in name for name in traj.manifest.frozen.tensors)
    with torch.no_grad():  # the merge must use the zeros the pruning left, not the noise under them
        unpruned = copy.deepcopy(model)
        for name, parameter in unpruned.named_parameters():
            if ".lora_E." in name:
                parameter.add_(0.05 * (parameter == 0))
    rebuilt = effective_state_at(traj, base_state, 1, base_model=tiny_model())
    pruned, unpruned_merge = merged_weights("adalora", model), merged_weights("adalora", unpruned)
    for name, weight in pruned.items():
        torch.testing.assert_close(rebuilt[name], weight, atol=1e-6, rtol=0)
    assert any(not torch.allclose(rebuilt[n], unpruned_merge[n], atol=1e-4) for n in unpruned_merge)


def test_vera_keeps_its_shared_projections_once(tmp_path: Path) -> None:
    model = record_two_updates("vera", tmp_path)
    traj = Trajectory(tmp_path)
    assert traj.manifest.frozen is not None
    frozen = traj.manifest.frozen.tensors
    assert sorted(name.split(".")[-2] for name in frozen) == ["vera_A", "vera_B"]
    buffers = dict(model.named_buffers())
    for name in frozen:
        assert torch.equal(traj.tensor(name, 1), buffers[name])
    assert not set(frozen) & set(traj.names)  # stored once, not in every record


def test_frozen_adapter_tensors_are_restored_not_drawn_again(tmp_path: Path) -> None:
    # VeRA's projections and AdaLoRA's ranknum come back identical from their configs; a frozen
    # random factor (LoRA-FA style A, here under DoRA) does not, so only the stored copy rebuilds it.
    base_state = parameter_snapshot(tiny_model())
    model = applied("dora")
    for name, parameter in model.named_parameters():
        if ".lora_A." in name:
            parameter.requires_grad_(False)
    recorder = TrajectoryRecorder(tmp_path, every=1, base_reference="tiny-llama")
    recorder.record(model, 0)
    simulate_training("dora", model)
    recorder.record(model, 1)
    traj = Trajectory(tmp_path)
    assert traj.manifest.frozen is not None and all(".lora_A." in n for n in traj.manifest.frozen.tensors)
    rebuilt = effective_state_at(traj, base_state, 1, base_model=tiny_model())
    for name, weight in merged_weights("dora", model).items():
        torch.testing.assert_close(rebuilt[name], weight, atol=1e-6, rtol=0)


def test_per_tensor_series_refuse_and_point_to_the_whole_state(tmp_path: Path) -> None:
    record_two_updates("ia3", tmp_path)
    traj = Trajectory(tmp_path)
    name = "model.layers.0.mlp.down_proj.weight"
    with pytest.raises(NotImplementedError, match=r"IA3: .*effective_state_at\(\.\.\., base_model"):
        effective_series(traj, parameter_snapshot(tiny_model()), name)
    with pytest.raises(ValueError, match="pass base_model"):
        effective_state_at(traj, parameter_snapshot(tiny_model()), 1)


def test_trajectories_recorded_before_peft_configs_still_load_and_refuse(tmp_path: Path) -> None:
    record_two_updates("dora", tmp_path)
    path = tmp_path / MANIFEST
    manifest = json.loads(path.read_text())
    for field in ("peft_config", "wrapped_weights"):
        del manifest[field]
    path.write_text(json.dumps(manifest))
    traj = Trajectory(tmp_path)
    assert traj.updates == [0, 1] and traj.manifest.peft_config is None
    with pytest.raises(NotImplementedError, match="DoRA: only LoRA-factor and delta"):
        effective_weight_names(traj)
    with pytest.raises(NotImplementedError, match="DoRA: only LoRA-factor and delta"):
        effective_state_at(traj, parameter_snapshot(tiny_model()), 1, base_model=tiny_model())


def test_the_peft_config_is_saved_next_to_the_records(tmp_path: Path) -> None:
    model = record_two_updates("miss", tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["peft_config"] == "adapter_config.json" and manifest["format"] == 1
    config = Trajectory(tmp_path).peft_config()
    assert config.to_dict() == model.peft_config["default"].to_dict()
