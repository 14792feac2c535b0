"""Trajectory recording: what a record holds, the update map, effective weights vs W0, resuming."""

from __future__ import annotations

import copy
import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import Trainer, TrainerState, TrainingArguments

from peft_rlvr_bench.adapters import ApplyContext
from peft_rlvr_bench.registry import ADAPTERS
from peft_rlvr_bench.trajectory import (
    MANIFEST,
    Trajectory,
    TrajectoryRecorder,
    effective_series,
    effective_weight_names,
)
from tests.helpers.tiny_models import tiny_llama, tiny_model
from tests.helpers.trajectories import INPUTS, train_and_record, wrap


def trainable_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def data_bytes(path: Path) -> int:
    """Bytes of a safetensors file's tensor data: the file minus its length prefix and JSON header."""
    (header,) = struct.unpack("<Q", path.read_bytes()[:8])
    return path.stat().st_size - 8 - header


@pytest.mark.parametrize("method", ["lora", "pissa"])
def test_lora_effective_weights_are_w0_at_init_and_the_merged_weights_after(
    method: str, tmp_path: Path
) -> None:
    w0 = {name: tensor.clone() for name, tensor in tiny_model().state_dict().items()}
    model = wrap(method, {"r": 4})
    train_and_record(model, tmp_path)
    merged = copy.deepcopy(model).merge_and_unload().state_dict()

    traj = Trajectory(tmp_path)
    assert traj.kind == "peft" and traj.updates == [0, 1, 2]
    names = effective_weight_names(traj)
    assert len(names) == 2 * 7 and "model.layers.0.self_attn.q_proj.weight" in names
    moved = 0.0
    for name in names:
        series = effective_series(traj, w0, name)
        assert [update for update, _ in series] == [0, 1, 2]
        # W0 itself, not PiSSA's residual: the deltas are always against the original base.
        torch.testing.assert_close(series[0][1], w0[name], atol=0, rtol=0)
        torch.testing.assert_close(series[-1][1], merged[name], atol=1e-5, rtol=0)
        moved = max(moved, (series[-1][1] - w0[name]).abs().max().item())
    assert moved > 1e-3  # the check above compared weights that really moved
    if method == "pissa":
        residual = model.state_dict()["base_model.model.model.layers.0.self_attn.q_proj.base_layer.weight"]
        assert not torch.allclose(residual, w0["model.layers.0.self_attn.q_proj.weight"], atol=1e-3)


def test_lora_record_holds_the_adapter_state_and_its_scaling(tmp_path: Path) -> None:
    model = wrap("lora", {"r": 4, "alpha": 12.0})
    train_and_record(model, tmp_path, steps=1)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert set(manifest["tensors"]) == trainable
    assert all(".lora_A.default." in n or ".lora_B.default." in n for n in trainable)
    assert manifest["lora_scaling"]["base_model.model.model.layers.1.mlp.down_proj"] == 3.0
    assert manifest["dtype"] == "float32" and manifest["base"] == "tiny-llama"
    for record in manifest["records"]:
        path = tmp_path / record["file"]
        assert record["bytes"] == path.stat().st_size
        assert data_bytes(path) == trainable_bytes(model) == manifest["trainable_bytes"]
    name = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.default.weight"
    torch.testing.assert_close(Trajectory(tmp_path).tensor(name, 1), model.state_dict()[name], atol=0, rtol=0)


def test_lora_fa_keeps_its_frozen_factor_once(tmp_path: Path) -> None:
    w0 = {name: tensor.clone() for name, tensor in tiny_model().state_dict().items()}
    model = wrap("lora_fa", {"r": 4})
    with torch.no_grad():  # stands in for trained B: LoRA-FA's A never moves
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.normal_(0, 0.1)
    recorder = TrajectoryRecorder(tmp_path, every=1, base_reference="tiny-llama")
    recorder.record(model, 0)
    traj = Trajectory(tmp_path)
    assert all(".lora_B." in name for name in traj.names) and traj.manifest.frozen is not None
    merged = copy.deepcopy(model).merge_and_unload().state_dict()
    name = "model.layers.1.mlp.up_proj.weight"
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05)
    recorder.record(model, 3)
    later = copy.deepcopy(model).merge_and_unload().state_dict()
    (_, at_0), (_, at_3) = effective_series(Trajectory(tmp_path), w0, name)
    # B_0 != 0 here, so W0 at update 0 shows that s B_0 A_0 cancels out.
    torch.testing.assert_close(at_0, w0[name], atol=0, rtol=0)
    torch.testing.assert_close(at_3 - at_0, later[name] - merged[name], atol=1e-5, rtol=0)


def test_full_fine_tuning_records_deltas_that_rebuild_the_weights(tmp_path: Path) -> None:
    w0 = {name: tensor.clone() for name, tensor in tiny_model().state_dict().items()}
    model = wrap("full", {})
    train_and_record(model, tmp_path)
    traj = Trajectory(tmp_path)
    assert traj.kind == "delta"
    names = effective_weight_names(traj)
    # Tied embedding and LM head: one tensor, recorded once.
    assert "model.embed_tokens.weight" in names and "lm_head.weight" not in names
    assert sorted(names) == sorted(name for name, _ in model.named_parameters())
    final = model.state_dict()
    for name in names:
        series = effective_series(traj, w0.__getitem__, name)
        assert torch.equal(series[0][1], w0[name])
        torch.testing.assert_close(series[-1][1], final[name], atol=1e-6, rtol=0)
    assert not torch.equal(traj.tensor("model.layers.0.mlp.up_proj.weight", 2), torch.zeros(64, 32))
    for record in traj.manifest.records:
        assert data_bytes(tmp_path / record.file) == trainable_bytes(model)


def test_bytes_per_record_are_the_trainable_bytes_within_one_percent(tmp_path: Path) -> None:
    for method, params in [("full", {}), ("lora", {"r": 32})]:
        wide = tiny_llama(vocab_size=64, hidden_size=128, intermediate_size=256, num_hidden_layers=1).train()
        model = wrap(method, params, wide)
        directory = tmp_path / method
        TrajectoryRecorder(directory, every=1, base_reference="wide").record(model, 0)
        (record,) = Trajectory(directory).manifest.records
        assert record.bytes == pytest.approx(trainable_bytes(model), rel=0.01), method


def test_sparse_frozen_coordinates_have_exactly_zero_deltas(tmp_path: Path) -> None:
    adapter = ADAPTERS.get("sparse")()
    params = adapter.Params.model_validate({"mask": "random", "density": 0.25})
    model = adapter.apply(tiny_model(), params, ApplyContext())
    (restore,) = adapter.hooks(model, params).callbacks
    recorder = TrajectoryRecorder(tmp_path, every=1, base_reference="tiny-llama")
    recorder.record(model, 0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(input_ids=INPUTS, labels=INPUTS).loss.backward()
    optimizer.step()
    restore.on_optimizer_step(None, None, None)
    recorder.record(model, 1)
    traj = Trajectory(tmp_path)
    for weight in adapter.weights:
        delta = traj.tensor(weight.name, 1)
        assert torch.equal(delta[~weight.mask.cpu()], torch.zeros(int((~weight.mask).sum())))
        assert delta[weight.mask.cpu()].abs().max() > 0


def test_a_trainer_records_update_0_every_k_and_the_last(tmp_path: Path) -> None:
    w0 = {name: tensor.clone() for name, tensor in tiny_model().state_dict().items()}
    model = wrap("lora", {"r": 2})
    recorder = TrajectoryRecorder(tmp_path / "trajectory", every=2, base_reference="tiny-llama")
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=5,
        per_device_train_batch_size=1,
        learning_rate=1e-2,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
    )
    data = [{"input_ids": row, "labels": row} for row in INPUTS]
    Trainer(model=model, args=args, train_dataset=data, callbacks=[recorder]).train()

    traj = Trajectory(tmp_path / "trajectory")
    assert traj.updates == [0, 2, 4, 5]
    manifest = json.loads((traj.directory / MANIFEST).read_text())
    assert manifest["every"] == 2 and manifest["kind"] == "peft" and manifest["format"] == 1
    assert [r["file"] for r in manifest["records"]][-1] == "update_000005.safetensors"
    name = "model.layers.0.mlp.gate_proj.weight"
    merged = copy.deepcopy(model).merge_and_unload().state_dict()[name]
    torch.testing.assert_close(effective_series(traj, w0, name)[-1][1], merged, atol=1e-5, rtol=0)


def test_the_last_update_is_not_recorded_twice_and_order_is_enforced(tmp_path: Path) -> None:
    model = wrap("full", {})
    recorder = TrajectoryRecorder(tmp_path, every=2, base_reference="tiny-llama")
    with pytest.raises(ValueError, match="first record must be update 0"):
        recorder.record(model, 3)
    state = TrainerState()
    recorder.on_train_begin(None, state, None, model=model)
    for _ in range(4):
        state.global_step += 1
        recorder.on_step_end(None, state, None, model=model)
    recorder.on_train_end(None, state, None, model=model)
    assert Trajectory(tmp_path).updates == [0, 2, 4]
    with pytest.raises(ValueError, match="not after the last record"):
        recorder.record(model, 4)


def test_background_writes_equal_synchronous_ones_and_keep_the_state_taken(tmp_path: Path) -> None:
    """``take`` copies the state at once: changing the model before the write lands must not
    change the record, and the files equal those of synchronous recording."""
    model = wrap("full", {})
    queued = TrajectoryRecorder(tmp_path / "queued", every=1, base_reference="tiny-llama", background=True)
    direct = TrajectoryRecorder(tmp_path / "direct", every=1, base_reference="tiny-llama", background=False)
    for update in range(3):
        queued.take(model, update)
        direct.record(model, update)
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(0.01)
    queued.flush()
    assert queued.manifest is not None and [r.update for r in queued.manifest.records] == [0, 1, 2]
    for record in queued.manifest.records:  # tensors, not bytes: safetensors orders metadata freely
        written, expected = (load_file(tmp_path / kind / record.file) for kind in ("queued", "direct"))
        assert list(written) == list(expected)
        assert all(torch.equal(written[name], expected[name]) for name in expected)


def test_a_failed_background_write_is_raised_not_lost(tmp_path: Path) -> None:
    model = wrap("full", {})
    recorder = TrajectoryRecorder(
        tmp_path / "trajectory", every=1, base_reference="tiny-llama", background=True
    )
    recorder.record(model, 0)
    (tmp_path / "trajectory" / "update_000001.safetensors").mkdir()  # the write's rename target is taken
    recorder.take(model, 1)
    with pytest.raises(OSError):
        recorder.flush()
    assert [r.update for r in Trajectory(tmp_path / "trajectory").manifest.records] == [0]


def test_the_recorder_resumes_at_a_checkpoint_dropping_later_records(tmp_path: Path) -> None:
    from peft_rlvr_bench.trajectory import Trajectory, TrajectoryRecorder
    from tests.helpers.tiny_models import tiny_llama

    model = tiny_llama()
    w0 = {name: p.detach().clone() for name, p in model.named_parameters()}
    recorder = TrajectoryRecorder(tmp_path, 1, "base", background=False)
    for update in range(4):
        if update:
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.add_(0.01)
        recorder.record(model, update)
    (tmp_path / ".update_000004.safetensors.tmp").write_bytes(b"half")
    fresh = tiny_llama()  # the update-0 state, as a resumed run has before loading its checkpoint
    resumed = TrajectoryRecorder(tmp_path, 1, "base", background=False)
    assert resumed.resume(fresh, 2)
    assert Trajectory(tmp_path).updates == [0, 1, 2] and resumed.last_update == 2
    assert sorted(p.name for p in tmp_path.iterdir() if "update_" in p.name) == [
        f"update_00000{u}.safetensors" for u in range(3)
    ]
    with torch.no_grad():
        for p in fresh.parameters():
            p.add_(0.05)
    resumed.record(fresh, 3)
    delta = Trajectory(tmp_path).tensor("model.embed_tokens.weight", 3)
    torch.testing.assert_close(
        delta, fresh.model.embed_tokens.weight.detach() - w0["model.embed_tokens.weight"]
    )
    assert not TrajectoryRecorder(tmp_path, 2, "base").resume(fresh, 2), "another interval cannot continue"


def test_a_dense_window_records_every_update_up_to_it_then_every_k(tmp_path: Path) -> None:
    recorder = TrajectoryRecorder(tmp_path / "trajectory", every=20, base_reference="tiny", dense_until=60)
    assert [u for u in range(0, 101) if recorder.due(u)] == [*range(0, 61), 80, 100]
    plain = TrajectoryRecorder(tmp_path / "other", every=20, base_reference="tiny")
    assert [u for u in range(0, 101) if plain.due(u)] == [0, 20, 40, 60, 80, 100]
