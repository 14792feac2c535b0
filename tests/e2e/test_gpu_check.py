"""``make gpu-check``'s script (benchmarks/gpu_check.py) at a tiny shape on the CPU: every step
runs and reports, and the 1.5B shape it builds on a GPU is Qwen2.5-1.5B's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_check

pytestmark = pytest.mark.e2e

STEPS = [
    "build random Qwen2 model",
    "GRPO update, bare-trl (lora)",
    "GRPO update, harness (lora)",
    "harness / bare TRL",
    "memory: measured / estimate",
    "trajectory record (full model)",
    "write synthetic checkpoints",
    "prb extrapolate relex",
    "prb extrapolate alpharl",
    "prb analyze",
]


def test_every_step_runs_at_a_tiny_shape_and_lands_in_one_table_and_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gpu-check.json"
    args = ["--shape", "tiny", "--in-process", "--updates", "2", "--json", str(out), "--work", str(tmp_path)]
    assert gpu_check.main(args) == 0
    result = json.loads(out.read_text())
    rows = {row["step"]: row for row in result["rows"]}
    assert list(rows) == STEPS
    timed = [step for step in STEPS if step not in ("harness / bare TRL", "memory: measured / estimate")]
    assert all(rows[step]["seconds"] > 0 for step in timed), rows
    overhead = result["overhead"]
    assert overhead["same_tokens"], "both cases must generate the same tokens from the same seed"
    assert overhead["harness_over_bare"]["ratio"] > 0 and overhead["pairs"] == 1
    memory = result["memory_estimate"]
    assert 0 < memory["at_own_prompt_gib"] < memory["dry_run_gib"], "512 prompt tokens estimate more"
    trajectory = result["trajectory"]
    assert 1.0 <= trajectory["bytes"] / 2 / trajectory["trainable_bytes"] < 1.1, trajectory
    printed = capsys.readouterr().out
    assert result["table"] in printed and "| prb analyze |" in printed
    assert list(tmp_path.iterdir()) == [out], "the scratch checkpoints and records are removed"


def test_the_gpu_shape_is_qwen2_5_1_5b_and_its_synthetic_checkpoints_match_it() -> None:
    from peft_rlvr_bench.architecture import KNOWN
    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.suite import load_suite

    arch = gpu_check.architecture("1.5b")
    assert arch == KNOWN["Qwen/Qwen2.5-1.5B"]
    _, tokenizer = load_base(load_suite(REPO / "suites" / "smoke.yaml").spec.model)
    model = gpu_check.build_model(arch, tokenizer, 0, "meta")  # shapes only, no memory
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert sum(p.numel() for p in model.parameters()) == arch.parameters() == 1_543_714_304
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    layout = gpu_check.synthetic_layout(arch)
    weights = {name: shape for name, shape in shapes.items() if not name.endswith(".bias")}
    assert layout.shapes() == weights, "relex, alpharl and analyze see the trained model's tensors"


def test_a_failing_step_is_a_row_of_the_table_and_the_other_steps_still_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(gpu_check, "overhead_pairs", boom)
    monkeypatch.setattr(gpu_check, "record_trajectory", boom)
    out = tmp_path / "gpu-check.json"
    args = ["--shape", "tiny", "--in-process", "--json", str(out), "--work", str(tmp_path)]
    assert gpu_check.main(args) == 1
    result = json.loads(out.read_text())
    assert result["failed"] == ["GRPO pairs", "trajectory"]
    rows = {row["step"]: row for row in result["rows"]}
    assert rows["trajectory"]["figure"] == "FAILED: RuntimeError: CUDA out of memory"
    assert rows["prb analyze"]["seconds"] > 0, "the steps after a failure still run"
    assert rows["memory: measured / estimate"]["gpu_peak_mb"] is None
