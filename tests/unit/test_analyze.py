"""`prb analyze` on plain Hugging Face checkpoints, PEFT adapters and harness trajectories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner, Result

from peft_rlvr_bench.analyze import Analysis, analyze_dirs
from peft_rlvr_bench.cli import app
from peft_rlvr_bench.geometry import TensorGeometry
from peft_rlvr_bench.trajectory import TrajectoryRecorder
from tests.helpers.tiny_models import tiny_llama

MOVED = "model.layers.1.mlp.down_proj.weight"
TURNING = "model.layers.0.self_attn.q_proj.weight"


def rank1(shape: torch.Size, seed: int) -> torch.Tensor:
    """``u v^T`` with entries of |0.05..0.15|: every coordinate moves by far more than bf16 rounding."""
    generator = torch.Generator().manual_seed(seed)
    signs = torch.sign(torch.randn(shape[0], generator=generator))
    u = (torch.rand(shape[0], generator=generator) + 0.5) * signs
    v = (torch.rand(shape[1], generator=generator) + 0.5) * 0.1
    return torch.outer(u, v)


def add_(model: torch.nn.Module, name: str, delta: torch.Tensor) -> None:
    with torch.no_grad():
        dict(model.named_parameters())[name].add_(delta)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A base, a tuned copy moved by a known rank-1 update on one matrix, misfits and a trajectory."""
    root = tmp_path_factory.mktemp("analyze")
    base = tiny_llama(0)
    base.save_pretrained(root / "base")
    tuned = tiny_llama(0)
    add_(tuned, MOVED, rank1(tuned.get_parameter(MOVED).shape, seed=1))
    tuned.save_pretrained(root / "tuned")
    tiny_llama(0, intermediate_size=48).save_pretrained(root / "wide")
    tiny_llama(0, num_hidden_layers=1).save_pretrained(root / "shallow")

    # A delta trajectory: MOVED grows along one rank-1 direction, TURNING switches direction.
    model = tiny_llama(0)
    recorder = TrajectoryRecorder(root / "trajectory", every=1, base_reference=str(root / "base"))
    recorder.record(model, 0)
    direction = rank1(model.get_parameter(MOVED).shape, seed=1)
    turns = [rank1(model.get_parameter(TURNING).shape, seed=s) for s in (2, 3)]
    for update in (1, 2):
        add_(model, MOVED, direction)
        add_(model, TURNING, turns[update - 1])
        recorder.record(model, update)
    return {"root": root, "base": root / "base", "tuned": root / "tuned"}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, ["analyze", *args])


def by_name(analysis: Analysis) -> dict[str, TensorGeometry]:
    return {tensor.name: tensor for tensor in analysis.geometry.tensors}


def test_a_known_rank1_update_is_found_and_untouched_tensors_are_unchanged(dirs, tmp_path: Path) -> None:
    out = tmp_path / "deep" / "geometry.json"
    done = invoke("--base", str(dirs["base"]), "--tuned", str(dirs["tuned"]), "--json", str(out))
    assert done.exit_code == 0, done.output
    analysis = Analysis.model_validate_json(out.read_text())
    tensors = by_name(analysis)
    moved = tensors.pop(MOVED)
    assert moved.update_sparsity == 0.0 and moved.changed == moved.numel
    assert moved.matrix is not None
    assert moved.matrix.top1_energy_share == pytest.approx(1.0, abs=1e-9)
    assert moved.matrix.update_effective_rank == pytest.approx(1.0, abs=1e-6)
    assert len(tensors) == 20 and all(t.update_sparsity == 1.0 and t.changed == 0 for t in tensors.values())
    assert all(t.matrix is None or t.matrix.top1_energy_share is None for t in tensors.values())
    assert analysis.geometry.by_layer_type["down_proj"].means["top1_energy_share"] == pytest.approx(1.0)
    assert analysis.geometry.by_layer_type["q_proj"].update_sparsity == 1.0
    assert analysis.tuned_kind == "checkpoint" and analysis.trajectory_geometry is None
    # The table: a headline row and one per layer type, the moved type with its top-1 share.
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("layer type"))
    assert "top1" in header and "angle@16" in header and "traj.EV" not in header
    assert next(line for line in lines if line.startswith("all ")).split()[1] == "14"
    down = next(line for line in lines if line.startswith("down_proj")).split()
    assert down[1:4] == ["2", "50.0", "1.000"]
    q = next(line for line in lines if line.startswith("q_proj")).split()
    assert q[1:4] == ["2", "100.0", "-"]


def test_a_peft_adapter_equals_its_merged_checkpoint(dirs, tmp_path: Path) -> None:
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(tiny_llama(0), LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))
    model.save_pretrained(tmp_path / "adapter")
    base = AutoModelForCausalLM.from_pretrained(dirs["base"], dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, tmp_path / "adapter").merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")

    from_adapter = analyze_dirs(dirs["base"], tmp_path / "adapter")
    from_merged = analyze_dirs(dirs["base"], tmp_path / "merged")
    assert from_adapter.tuned_kind == "peft" and from_merged.tuned_kind == "checkpoint"
    assert from_adapter.geometry == from_merged.geometry
    tensors = by_name(from_adapter)
    q = tensors["model.layers.0.self_attn.q_proj.weight"]
    assert q.update_sparsity < 0.5 and q.matrix is not None and q.matrix.update_effective_rank <= 2 + 1e-6
    assert tensors["model.layers.0.self_attn.k_proj.weight"].update_sparsity == 1.0
    assert set(from_adapter.geometry.by_layer_type) == {
        f"{m}_proj" for m in ("q", "k", "v", "o", "gate", "up", "down")
    }
    assert from_adapter.geometry.by_layer_type["k_proj"].update_sparsity == 1.0
    assert from_adapter.geometry.by_layer_type["v_proj"].update_sparsity < 0.5


def test_trajectory_metrics_tell_a_steady_direction_from_a_turning_one(dirs, tmp_path: Path) -> None:
    trajectory = dirs["root"] / "trajectory"
    done = invoke("--base", str(dirs["base"]), "--tuned", str(dirs["tuned"]), "--trajectory", str(trajectory))
    assert done.exit_code == 0, done.output
    assert "traj.EV" in done.stdout and "updates [1, 2]" in done.stdout
    summary = analyze_dirs(dirs["base"], dirs["tuned"], trajectory).trajectory_geometry
    assert summary is not None and summary.updates == [1, 2]
    records = {record.name: record for record in summary.tensors}
    steady, turning = records[MOVED], records[TURNING]
    assert steady.explained_variance == pytest.approx(1.0, abs=1e-9)
    assert steady.left_alignment == pytest.approx({1: 1.0, 2: 1.0}, abs=1e-9)
    # Rows D1 and D1 + D2 with independent D1, D2 of similar norm: far from rank 1.
    assert turning.explained_variance is not None and turning.explained_variance < 0.95
    assert turning.left_alignment is not None and turning.left_alignment[1] < 0.99
    assert turning.left_alignment[2] == pytest.approx(1.0)
    assert records["model.layers.0.self_attn.k_proj.weight"].explained_variance is None  # never moved
    assert records["model.norm.weight"].left_alignment is None  # not a matrix
    assert summary.by_layer_type["down_proj"].explained_variance == pytest.approx(1.0, abs=1e-9)
    assert summary.by_layer_type["down_proj"].left_alignment_first == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("base-not-a-dir", "--base"),
        ("base-is-an-adapter", "is a PEFT adapter directory"),
        ("tuned-without-safetensors", "not a checkpoint directory"),
        ("tuned-lacks-a-tensor", "lacks 9 tensor(s) of the base"),
        ("tuned-other-shape", "down_proj.weight has shape (32, 48), the base (32, 64)"),
        ("json-is-a-dir", "is a directory"),
        ("json-under-a-file", "is a file, not a directory"),
        ("trajectory-without-manifest", "cannot read the trajectory manifest"),
        ("device-unknown", "--device"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    dirs, tmp_path: Path, case: str, fragment: str
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    (tmp_path / "file").write_text("")
    base, tuned = str(dirs["base"]), str(dirs["tuned"])
    out = tmp_path / "out.json"
    json_arg = {"json-is-a-dir": tmp_path / "empty", "json-under-a-file": tmp_path / "file" / "out.json"}
    inputs = {
        "base-not-a-dir": ["--base", str(tmp_path / "nope"), "--tuned", tuned],
        "base-is-an-adapter": ["--base", str(tmp_path / "adapter"), "--tuned", tuned],
        "tuned-without-safetensors": ["--base", base, "--tuned", str(tmp_path / "empty")],
        "tuned-lacks-a-tensor": ["--base", base, "--tuned", str(dirs["root"] / "shallow")],
        "tuned-other-shape": ["--base", base, "--tuned", str(dirs["root"] / "wide")],
        "json-is-a-dir": ["--base", base, "--tuned", tuned],
        "json-under-a-file": ["--base", base, "--tuned", tuned],
        "trajectory-without-manifest": [
            *("--base", base, "--tuned", tuned),
            *("--trajectory", str(tmp_path / "empty")),
        ],
        "device-unknown": ["--base", base, "--tuned", tuned, "--device", "toaster"],
    }[case]
    before = sorted(tmp_path.rglob("*"))
    done = invoke(*inputs, "--json", str(json_arg.get(case, out)))
    assert done.exit_code == 2, done.output
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert fragment in done.stderr
    assert "Traceback" not in done.output
    assert done.stdout == ""
    assert sorted(tmp_path.rglob("*")) == before, "nothing written"


def test_json_holds_the_full_summary(dirs, tmp_path: Path) -> None:
    out = tmp_path / "g.json"
    done = invoke("--base", str(dirs["base"]), "--tuned", str(dirs["tuned"]), "--json", str(out))
    assert done.exit_code == 0, done.output
    payload = json.loads(out.read_text())
    assert set(payload["geometry"]) == {
        "params",
        "headline",
        "update_sparsity_all",
        "by_layer_type",
        "by_depth",
        "tensors",
    }
    assert len(payload["geometry"]["tensors"]) == 21 and not list(tmp_path.glob(".*.tmp"))
