"""The exact vLLM weight sync for PEFT models: over 200 syncs at bf16, with the adapter moving
between them as in training, the frozen base stays bitwise equal while vLLM receives bitwise what
TRL's own walk sends. TRL's walk itself drifts (the reason for the fix). No vLLM is needed."""

from __future__ import annotations

import contextlib
import types

import pytest
import torch
from peft import IA3Config, LoraConfig, get_peft_model

from peft_rlvr_bench.rlvr.weight_sync import exact_peft_params, install_exact_sync
from tests.helpers.tiny_models import tiny_llama

SYNCS = 200


def generation_stub(model: torch.nn.Module) -> types.SimpleNamespace:
    """TRL's ``VLLMGeneration`` as its parameter walk sees it on one process (no FSDP, no ZeRO-3)."""
    from trl.generation.vllm_generation import VLLMGeneration

    one_process = types.SimpleNamespace(
        gather_params=lambda params: contextlib.nullcontext(), is_fsdp=False, is_zero3=False
    )
    stub = types.SimpleNamespace(model=model, _dist=one_process)
    stub._fix_param_name_to_vllm = lambda name, extra_prefixes=None: VLLMGeneration._fix_param_name_to_vllm(
        stub, name, extra_prefixes
    )
    stub._iter_named_params = types.MethodType(VLLMGeneration._iter_named_params, stub)
    return stub


def peft_model(kind: str) -> torch.nn.Module:
    base = tiny_llama(0, dtype=torch.bfloat16)
    if kind == "ia3":
        modules = ["q_proj", "v_proj", "down_proj"]
        config = IA3Config(target_modules=modules, feedforward_modules=["down_proj"])
    else:
        config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", use_dora=kind == "dora")
    model = get_peft_model(base, config)  # peft keeps the adapter in fp32 over the bf16 base
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(0.02 * torch.randn_like(p))
            elif p.requires_grad:
                p.mul_(1 + 0.05 * torch.randn_like(p))
    return model


def frozen(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}


def sent(walk) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in walk}


def step(model: torch.nn.Module, generator: torch.Generator) -> None:
    """A stand-in optimizer step: every adapter tensor moves a little."""
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(1e-3 * torch.randn(p.shape, generator=generator).to(p.dtype))


@pytest.mark.parametrize("kind", ["lora", "dora", "ia3"])
def test_200_bf16_syncs_leave_the_frozen_base_bitwise_and_send_what_trl_sends(kind: str) -> None:
    trl, exact = peft_model(kind), peft_model(kind)
    trl_stub, exact_stub = generation_stub(trl), generation_stub(exact)
    assert install_exact_sync(exact_stub)
    before = frozen(exact)
    moves_trl, moves_exact = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    for sync in range(SYNCS):
        ours = sent(exact_stub._iter_named_params())
        theirs = sent(trl_stub._iter_named_params())
        if sync == 0:  # same weights so far: TRL's merged values, bitwise, under TRL's names
            assert ours.keys() == theirs.keys()
            assert all(torch.equal(ours[name], theirs[name]) for name in theirs)
        step(trl, moves_trl)
        step(exact, moves_exact)
    assert all(torch.equal(p.detach(), before[n]) for n, p in exact.named_parameters() if n in before)
    if kind != "ia3":  # TRL's own merge/unmerge walks the base away from W0 (what the fix stops)
        drifted = sum(int((p.detach() != before[n]).sum()) for n, p in trl.named_parameters() if n in before)
        assert drifted > 0


def test_sharded_launches_keep_trls_walk() -> None:
    stub = generation_stub(peft_model("lora"))
    stub._dist.is_zero3 = True
    assert not install_exact_sync(stub)
    assert not install_exact_sync(generation_stub(tiny_llama(0)))  # a plain model has nothing to merge
    assert not install_exact_sync(None)


def test_the_walk_is_a_generator_of_vllm_names() -> None:
    names = [name for name, _ in exact_peft_params(generation_stub(peft_model("lora")))]
    assert "model.layers.0.self_attn.q_proj.weight" in names
    assert not any("lora_" in name or "base_layer" in name for name in names)
