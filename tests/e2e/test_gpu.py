"""On a CUDA device: a tiny-world GRPO run trains under bf16 autocast over fp32 master weights, and
with vLLM installed, rollouts and evaluation go through vLLM.

Marked ``gpu``: the default tier leaves these out (``-m 'not slow and not gpu'``), ``make test-gpu``
runs them, and without a CUDA device they skip and say why. Everything else about these paths is
tested on CPUs (tests/unit/test_backends.py, tests/unit/rlvr/test_generation.py).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from peft_rlvr_bench.backends import Backends, select_backends
from peft_rlvr_bench.suite import GenerationSpec, load_suite
from tests.helpers.paths import REPO

CUDA = torch.cuda.is_available()
VLLM_HERE = importlib.util.find_spec("vllm") is not None and CUDA
pytestmark = [pytest.mark.gpu, pytest.mark.e2e, pytest.mark.skipif(not CUDA, reason="needs a CUDA device")]


def lora_run(backend: str) -> Any:
    """The smoke suite's LoRA run (3 GRPO updates with a KL reference) on this generation backend."""
    run = next(r for r in load_suite(REPO / "suites" / "smoke.yaml").runs if r.adapter.name == "lora")
    return run.model_copy(update={"generation": GenerationSpec(backend=backend)})


def train_on_the_gpu(run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from peft_rlvr_bench.paths import final_dir
    from peft_rlvr_bench.runner.execute import execute_run

    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))
    result = execute_run(run)
    assert result.status == "ok", result.reason
    assert [step.step for step in result.train_curve] == [1, 2, 3]
    for step in result.train_curve:
        assert all(math.isfinite(value) for value in (step.reward_mean, step.loss, step.kl)), step
    assert result.environment is not None and result.environment.hardware.gpu
    adapter = load_file(str(final_dir(run.suite, run.run_id) / "adapter_model.safetensors"))
    assert adapter and all(tensor.dtype == torch.float32 for tensor in adapter.values()), "fp32 masters"
    return result


def test_a_tiny_world_run_trains_under_bf16_autocast_over_fp32_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = train_on_the_gpu(lora_run("transformers"), tmp_path, monkeypatch)
    assert result.train_config["bf16"] is True and result.train_config["use_cpu"] is False
    assert result.backends == {"rollout": "transformers", "eval": "hf"}


@pytest.mark.skipif(not VLLM_HERE, reason="needs vLLM (pip install -e '.[vllm]')")
def test_with_vllm_and_a_gpu_rollouts_and_evaluation_go_through_vllm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert select_backends(None) == select_backends(GenerationSpec()) == Backends("vllm", "vllm")
    result = train_on_the_gpu(lora_run("auto"), tmp_path, monkeypatch)
    assert result.backends == {"rollout": "vllm", "eval": "vllm"}
    assert result.train_config["use_vllm"] is True
