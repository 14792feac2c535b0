"""Residual adapters (PiSSA, OLoRA, MiLoRA, GeoRA) against docs/methods.md ("Residual low-rank
inits"); their SVD initialisations are test_svd_math.py's.

The adapters are held to the invariants the harness relies on: the wrapped and the merged model
equal the base at init, the base weights really are rewritten, and only the LoRA factors train.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import LlamaForCausalLM

from peft_rlvr_bench.adapters import ApplyContext, block_linear_names, count_parameters
from peft_rlvr_bench.adapters.svd_math import principal_init
from peft_rlvr_bench.registry import ADAPTERS
from tests.helpers.tiny_models import tiny_llama

# ---------------------------------------------------------------- adapters on a tiny Llama

CASES: list[tuple[str, dict[str, Any]]] = [
    ("pissa", {}),
    ("pissa", {"niter": 2}),
    ("olora", {}),
    ("milora", {}),
    ("geora", {}),
    ("geora", {"r": 4, "alpha": 8.0, "rho": 0.5}),
]


def _tiny_llama(dtype: torch.dtype = torch.float32) -> LlamaForCausalLM:
    return tiny_llama(dtype=dtype, num_key_value_heads=2)  # k_proj, v_proj are 16 x 32: not square


def _logits(model: torch.nn.Module) -> torch.Tensor:
    ids = torch.arange(24).reshape(2, 12) % 50
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


@pytest.mark.parametrize(
    ("name", "overrides"), CASES, ids=[f"{n}-{'-'.join(map(str, o.values()))}" for n, o in CASES]
)
def test_residual_adapter_invariants_at_init(name: str, overrides: dict[str, Any]) -> None:
    adapter = ADAPTERS.get(name)()
    params = adapter.Params(**overrides)
    assert adapter.rewrites_base

    model = _tiny_llama()
    base_logits = _logits(model)
    original = {key: value.clone() for key, value in model.state_dict().items()}
    held = model.state_dict()  # shares storage: apply must not write into it
    targets = block_linear_names(model)
    linears = {
        n: m
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in targets
    }
    expected_trainable = sum(params.r * (m.in_features + m.out_features) for m in linears.values())

    wrapped = adapter.apply(model, params, ApplyContext())
    tolerance = 1e-4 * float(base_logits.abs().max())
    torch.testing.assert_close(_logits(wrapped), base_logits, atol=tolerance, rtol=0)

    assert count_parameters(wrapped)[0] == expected_trainable
    for key, parameter in wrapped.named_parameters():
        assert parameter.requires_grad == (".lora_A." in key or ".lora_B." in key), key
    for key in held:
        assert torch.equal(held[key], original[key]), f"apply wrote into the caller's tensor {key}"

    lora_layers = {n: m for n, m in wrapped.named_modules() if hasattr(m, "lora_A") and "default" in m.lora_A}
    assert len(lora_layers) == len(linears)
    alpha = params.alpha if params.alpha is not None else params.r
    for layer_name, layer in lora_layers.items():
        assert layer.scaling["default"] == pytest.approx(alpha / params.r)
        key = layer_name.removeprefix("base_model.model.") + ".weight"
        rewritten = layer.get_base_layer().weight
        assert rewritten.dtype == original[key].dtype
        assert (rewritten - original[key]).abs().max() > 1e-3, f"{key} is not a residual"
    with wrapped.disable_adapter():  # the residual model: not the base
        assert (_logits(wrapped) - base_logits).abs().max() > 10 * tolerance

    merged = adapter.merge(wrapped)
    torch.testing.assert_close(_logits(merged), base_logits, atol=tolerance, rtol=0)
    merged_state = merged.state_dict()
    assert merged_state.keys() == original.keys()
    for key, value in original.items():
        torch.testing.assert_close(merged_state[key], value, atol=1e-6, rtol=0)


def test_pissa_through_peft_matches_principal_init() -> None:
    model = _tiny_llama()
    W = model.model.layers[1].mlp.down_proj.weight.detach().clone()
    wrapped = ADAPTERS.get("pissa")().apply(model, ADAPTERS.get("pissa").Params(), ApplyContext())
    layer = wrapped.base_model.model.model.layers[1].mlp.down_proj
    s = layer.scaling["default"]
    A, B, W_res = principal_init(W, 8, s)
    product = s * layer.lora_B["default"].weight @ layer.lora_A["default"].weight
    torch.testing.assert_close(product, s * B @ A, atol=1e-5, rtol=0)
    torch.testing.assert_close(layer.get_base_layer().weight, W_res, atol=1e-5, rtol=0)


@pytest.mark.parametrize("name", ["pissa", "olora", "milora", "geora"])
def test_bf16_base_stays_bf16_and_factors_stay_fp32(name: str) -> None:
    adapter = ADAPTERS.get(name)()
    model = _tiny_llama(torch.bfloat16)
    original = {key: value.clone() for key, value in model.state_dict().items()}
    wrapped = adapter.apply(model, adapter.Params(), ApplyContext())
    for key, parameter in wrapped.named_parameters():
        expected = torch.float32 if parameter.requires_grad else torch.bfloat16
        assert parameter.dtype == expected, key
    merged = adapter.merge(wrapped).state_dict()
    for key, value in original.items():  # one bf16 rounding of the residual, a few ulps of W0
        torch.testing.assert_close(merged[key].float(), value.float(), atol=2e-3, rtol=0)


def test_rank_above_a_target_dimension_raises() -> None:
    adapter = ADAPTERS.get("pissa")()
    with pytest.raises(ValueError, match=r"k_proj: rank r=17 exceeds min\(out, in\)=16"):
        adapter.apply(_tiny_llama(), adapter.Params(r=17), ApplyContext())
    with pytest.raises(ValueError, match="rho"):
        ADAPTERS.get("geora").Params(rho=0.0)
