"""Generation for TRL: the settings handed to it, stop strings, and what TRL's vLLM weight sync sends
for PEFT models: the effective merged weights, residual methods included. No vLLM is needed: the
sync's parameter walk is plain TRL code."""

from __future__ import annotations

import contextlib
import copy
import types

import pytest
import torch

from peft_rlvr_bench.adapters import ApplyContext
from peft_rlvr_bench.backends import Backends
from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.registry import ADAPTERS
from peft_rlvr_bench.rlvr.generation import add_stop_tokens, rollout_fields
from peft_rlvr_bench.suite import GenerationSpec
from tests.helpers.tiny_models import tiny_llama


def test_vllm_rollouts_set_trl_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    import peft_rlvr_bench.backends as backends

    monkeypatch.setattr(backends, "vllm_available", lambda: (True, ""))
    spec = GenerationSpec(
        vllm_mode="server", vllm_server_base_url="http://h:8000", vllm_gpu_memory_utilization=0.4
    )
    context = RunContext.for_run(None, spec)
    assert context.backends == Backends("vllm", "vllm") and context.generation == spec
    assert rollout_fields(context, ("<|im_end|>",)) == {
        "use_vllm": True,
        "vllm_mode": "server",
        "vllm_gpu_memory_utilization": 0.4,
        "vllm_server_base_url": "http://h:8000",
        "generation_kwargs": {"stop": ["<|im_end|>"]},
    }
    assert RunContext.for_run(None, GenerationSpec(backend="transformers")).backends == Backends()


def test_generation_settings_are_not_part_of_the_run_id(tmp_path) -> None:
    from peft_rlvr_bench.suite import load_suite
    from tests.helpers.datasets import SUITE
    from tests.helpers.suites import write

    plain = load_suite(write(tmp_path, SUITE)).runs[0]
    served = load_suite(write(tmp_path, SUITE + "generation: {backend: vllm, vllm_mode: server}\n")).runs[0]
    assert plain.run_id == served.run_id and served.generation.vllm_mode == "server"


def test_template_stop_strings_become_eos_ids() -> None:
    from peft_rlvr_bench.world.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["a b c <|im_end|>"] * 10, vocab_size=40)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_end|>"]})
    model = tiny_llama(0)
    model.generation_config.eos_token_id = 2
    ids = add_stop_tokens(model, tokenizer, ["<|im_end|>", "two tokens"])
    assert ids == [2, tokenizer.convert_tokens_to_ids("<|im_end|>")]
    assert model.generation_config.eos_token_id == ids


def synced_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """What TRL's ``VLLMGeneration.sync_weights`` would send vLLM, from TRL's own parameter walk
    (``_iter_named_params``) on one process without FSDP or ZeRO-3."""
    from trl.generation.vllm_generation import VLLMGeneration

    one_process = types.SimpleNamespace(gather_params=lambda params: contextlib.nullcontext(), is_fsdp=False)
    stub = types.SimpleNamespace(model=model, _dist=one_process)
    stub._fix_param_name_to_vllm = lambda name, extra_prefixes=None: VLLMGeneration._fix_param_name_to_vllm(
        stub, name, extra_prefixes
    )
    return {name: tensor.detach().clone() for name, tensor in VLLMGeneration._iter_named_params(stub)}


@pytest.mark.parametrize("method", ["lora", "pissa", "milora", "geora", "dora"])
def test_the_vllm_sync_sends_the_effective_merged_weights(method: str) -> None:
    base = tiny_llama(0)
    adapter = ADAPTERS.get(method)()
    model = adapter.apply(copy.deepcopy(base), adapter.Params.model_validate({"r": 4}), ApplyContext(seed=0))
    with torch.no_grad():  # stand-in for training: move every adapter factor
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.05 * torch.randn_like(parameter))
    residual = {n: p.detach().clone() for n, p in model.named_parameters() if "base_layer" in n}
    sent = synced_weights(model)
    effective = dict(adapter.merge(copy.deepcopy(model)).named_parameters())
    assert sorted(sent) == sorted(name for name, _ in base.named_parameters()), (
        "vLLM's names, no adapter tensors"
    )
    for name, tensor in sent.items():
        torch.testing.assert_close(tensor, effective[name].detach(), rtol=0, atol=1e-6)
    if adapter.rewrites_base:  # the residual alone would be a different model
        q = "model.layers.0.self_attn.q_proj.weight"
        assert not torch.allclose(
            residual[f"base_model.model.{q}".replace(".weight", ".base_layer.weight")], sent[q]
        )
    # TRL's own walk unmerges afterwards; merge + unmerge is not bitwise (fp32 rounding), so the
    # residual drifts by about an ulp per sync. The harness replaces that walk with an exact one
    # (rlvr/weight_sync.py; tests/unit/rlvr/test_weight_sync.py checks it bitwise).
    for name, before in residual.items():
        torch.testing.assert_close(dict(model.named_parameters())[name].detach(), before, rtol=0, atol=1e-6)


def test_sparse_and_full_models_sync_their_parameters_as_they_are() -> None:
    model = tiny_llama(0)
    sent = synced_weights(model)
    assert all(torch.equal(sent[name], p.detach()) for name, p in model.named_parameters())


def test_training_and_evaluation_stop_on_the_same_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """The transformers rollout path (TRL reads the model's EOS ids), the fields TRL gives vLLM and
    lm-eval's transformers model during evaluation all stop on the chat template's end token."""
    import lm_eval.models.huggingface as huggingface

    import peft_rlvr_bench.evaluation as evaluation
    from peft_rlvr_bench.rlvr.grpo import grpo_config_fields
    from peft_rlvr_bench.suite import EvalSpec
    from peft_rlvr_bench.world.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["a b c <|im_end|> <|endoftext|>"] * 10, vocab_size=40)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_end|>", "<|endoftext|>"]})
    end = [tokenizer.convert_tokens_to_ids(token) for token in ("<|im_end|>", "<|endoftext|>")]
    context = RunContext()
    stop = context.task("math500").stop
    assert stop == ("<|im_end|>", "<|endoftext|>")

    # Evaluation: what lm-eval's HF model sees as EOS while it generates, restored afterwards.
    seen: list[object] = []

    class Recording:
        def __init__(self, pretrained, **_: object) -> None:
            seen.append(pretrained.generation_config.eos_token_id)

    monkeypatch.setattr(huggingface, "HFLM", Recording)
    monkeypatch.setattr(evaluation, "_simple_evaluate", lambda lm, configs, seed: {})
    model = tiny_llama(0)
    model.generation_config.eos_token_id = 2
    evaluation.run_lm_eval(model, tokenizer, EvalSpec(in_domain=["math500"]), [], "cpu", context)
    assert model.generation_config.eos_token_id == 2, "the base model is left as it was"
    (evaluated,) = seen

    # Training: TRL's transformers generation and truncation mask read the model's EOS ids; vLLM
    # gets the same ids, and no stop strings it could not match on special tokens.
    ids = add_stop_tokens(model, tokenizer, stop)
    config = {"use_vllm": True, "generation_kwargs": {"stop": list(stop)}}
    vllm = grpo_config_fields(config, ids, stop, tokenizer)["generation_kwargs"]
    assert vllm == {"stop_token_ids": sorted([2, *end])}
    assert set(model.generation_config.eos_token_id) == set(evaluated) == set(vllm["stop_token_ids"])
    assert grpo_config_fields({"learning_rate": 1.0}, ids, stop, tokenizer) == {"learning_rate": 1.0}


def test_multi_token_markers_stay_stop_strings_for_vllm() -> None:
    from peft_rlvr_bench.rlvr.generation import vllm_stop_kwargs
    from peft_rlvr_bench.world.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["a b c <|im_end|>"] * 10, vocab_size=40)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_end|>"]})
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    kwargs = vllm_stop_kwargs([2, end], ["<|im_end|>", "a b c"], tokenizer)
    assert kwargs == {"stop_token_ids": sorted([2, end]), "stop": ["a b c"]}


def test_release_closes_a_servers_channel_and_drops_a_colocated_engine() -> None:
    from peft_rlvr_bench.rlvr.generation import release_vllm

    calls: list[str] = []
    client = types.SimpleNamespace(
        close_communicator=lambda: calls.append("communicator"),
        session=types.SimpleNamespace(close=lambda: calls.append("session")),
    )
    generation = types.SimpleNamespace(vllm_client=client, llm=object())
    release_vllm(types.SimpleNamespace(vllm_generation=generation))
    assert calls == ["communicator", "session"]
    assert generation.vllm_client is None and generation.llm is None
    release_vllm(types.SimpleNamespace(vllm_generation=generation))  # twice is harmless
    assert calls == ["communicator", "session"]
