"""Choosing the generation backend: vLLM only with vLLM and a GPU."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from peft_rlvr_bench.backends import Backends, select_backends
from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.rlvr.generation import rollout_fields
from peft_rlvr_bench.suite import GenerationSpec

VLLM_HERE = importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


@pytest.mark.skipif(VLLM_HERE, reason="this machine can run vLLM")
def test_without_vllm_or_a_gpu_generation_falls_back_to_transformers() -> None:
    assert select_backends(None) == select_backends(GenerationSpec()) == Backends("transformers", "hf")
    assert select_backends(GenerationSpec(backend="transformers")).as_dict() == {
        "rollout": "transformers",
        "eval": "hf",
    }
    with pytest.raises(RuntimeError, match=r"generation\.backend is vllm, but"):
        select_backends(GenerationSpec(backend="vllm"))
    context = RunContext.for_run(None, GenerationSpec())
    assert rollout_fields(context, ("<|im_end|>",)) == {}, "transformers rollouts need no GRPOConfig fields"


def test_a_suite_that_needs_vllm_stops_before_its_first_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    import peft_rlvr_bench.backends as backends
    from peft_rlvr_bench.errors import UserError
    from peft_rlvr_bench.runner import run_suite
    from peft_rlvr_bench.suite import load_suite
    from tests.helpers.suites import write_scale_suite

    monkeypatch.setattr(backends, "vllm_available", lambda: (False, "vllm is not installed"))
    suite = load_suite(write_scale_suite(tmp_path, generation={"backend": "vllm"}))
    with pytest.raises(UserError, match=r"generation\.backend: vllm, but vllm is not installed; install"):
        run_suite(suite, tmp_path / "results")
    assert not (tmp_path / "results").exists(), "nothing ran"
    backends.require_backend(GenerationSpec(backend="auto"))  # auto falls back instead
