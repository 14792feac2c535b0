"""Residual adapters (PiSSA, OLoRA, MiLoRA, GeoRA) and their SVD math, against METHODS.md §1 and §1.1.

The math is checked against an independent numpy float64 computation of the formulas; the
adapters against the invariants the harness relies on: the wrapped and the merged model equal the
base at init, the base weights really are rewritten, and only the LoRA factors train.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from transformers import LlamaForCausalLM

from peft_rlvr_bench.adapters import ApplyContext, block_linear_names, count_parameters
from peft_rlvr_bench.adapters.svd_math import geora_init, geora_masks, minor_init, principal_init
from peft_rlvr_bench.registry import ADAPTERS
from tests.tiny_models import tiny_llama

# ---------------------------------------------------------------- svd_math against numpy


def _matrix(out: int = 12, inn: int = 7, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((out, inn))


def _reference_factors(
    W: np.ndarray, U: np.ndarray, S: np.ndarray, Vh: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    root = np.sqrt(S / scale)
    A = root[:, None] * Vh
    B = U * root[None, :]
    return A, B, W - scale * B @ A


def _reference_bottom(values: np.ndarray, rho: float) -> np.ndarray:
    k = math.floor(rho * values.size)
    mask = np.zeros(values.size, dtype=bool)
    mask[np.argsort(values.ravel(), kind="stable")[:k]] = True
    return mask.reshape(values.shape)


def _assert_same_init(got: tuple[torch.Tensor, ...], expected: tuple[np.ndarray, ...]) -> None:
    """Equal up to the joint sign of each singular pair, which cancels in B A, A A^T and B^T B."""
    A, B, W_res = (t.numpy() for t in got)
    A_ref, B_ref, W_res_ref = expected
    assert A.shape == A_ref.shape and B.shape == B_ref.shape
    np.testing.assert_allclose(B @ A, B_ref @ A_ref, atol=1e-10)
    np.testing.assert_allclose(A @ A.T, A_ref @ A_ref.T, atol=1e-10)
    np.testing.assert_allclose(B.T @ B, B_ref.T @ B_ref, atol=1e-10)
    np.testing.assert_allclose(W_res, W_res_ref, atol=1e-10)


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_principal_and_minor_init_match_the_formula(scale: float) -> None:
    W = _matrix()
    U, S, Vh = np.linalg.svd(W, full_matrices=False)
    r = 3
    _assert_same_init(
        principal_init(torch.from_numpy(W), r, scale), _reference_factors(W, U[:, :r], S[:r], Vh[:r], scale)
    )
    minor = minor_init(torch.from_numpy(W), r, scale)
    _assert_same_init(minor, _reference_factors(W, U[:, -r:], S[-r:], Vh[-r:], scale))
    A, B, W_res = minor
    np.testing.assert_allclose(torch.diag(A @ A.T).numpy(), S[-r:] / scale)  # the smallest, in order
    np.testing.assert_allclose((W_res + scale * B @ A).numpy(), W, atol=1e-12)


@pytest.mark.parametrize(("r", "rho", "scale"), [(3, 0.2, 1.0), (2, 0.35, 0.5), (4, 1.0, 1.0)])
def test_geora_init_matches_the_formula(r: int, rho: float, scale: float) -> None:
    W = _matrix(9, 14, seed=1)
    U, S, Vh = np.linalg.svd(W, full_matrices=False)
    m_spec = _reference_bottom(np.abs((U[:, :r] * S[:r]) @ Vh[:r]), rho)
    m_euc = _reference_bottom(np.abs(W), rho)
    got_spec, got_euc = geora_masks(torch.from_numpy(W), r, rho)
    np.testing.assert_array_equal(got_spec.numpy(), m_spec)
    np.testing.assert_array_equal(got_euc.numpy(), m_euc)
    assert not np.array_equal(m_spec, m_euc) or rho == 1.0  # two different priors

    W_geo = W * (m_spec | m_euc)
    Ug, Sg, Vhg = np.linalg.svd(W_geo, full_matrices=False)
    expected = _reference_factors(W, Ug[:, :r], Sg[:r], Vhg[:r], scale)
    _assert_same_init(geora_init(torch.from_numpy(W), r, rho, scale), expected)


def test_outputs_keep_the_input_dtype() -> None:
    W = torch.from_numpy(_matrix()).to(torch.float32)
    for A, B, W_res in (principal_init(W, 2, 1.0), minor_init(W, 2, 1.0), geora_init(W, 2, 0.2, 1.0)):
        assert A.dtype == B.dtype == W_res.dtype == torch.float32
        assert A.shape == (2, 7) and B.shape == (12, 2) and W_res.shape == (12, 7)
    assert all(m.dtype == torch.bool for m in geora_masks(W, 2, 0.2))


@pytest.mark.parametrize(
    ("shape", "rho", "count"), [((12, 7), 0.2, 16), ((10, 10), 0.29, 29), ((6, 5), 1.0, 30)]
)
def test_geora_masks_select_exactly_floor_rho_numel(shape: tuple[int, int], rho: float, count: int) -> None:
    W = torch.from_numpy(_matrix(*shape, seed=2))
    for mask in geora_masks(W, 2, rho):
        assert int(mask.sum()) == count


def test_geora_mask_ties_break_by_index() -> None:
    W = torch.tensor([[1.0, -1.0, 1.0, 2.0, 1.0], [-1.0, 1.0, 3.0, -1.0, 1.0]])
    # every |W| but two ties; the SVD's rounding breaks the ties of the reconstruction, so only m_euc
    _, m_euc = geora_masks(W, 1, 0.5)
    assert torch.equal(
        m_euc, torch.tensor([[True, True, True, False, True], [True, False, False, False, False]])
    )


def test_invalid_rank_and_rho_raise() -> None:
    W = torch.from_numpy(_matrix(6, 4))
    for fn in (
        lambda: principal_init(W, 5, 1.0),
        lambda: minor_init(W, 0, 1.0),
        lambda: geora_init(W, 5, 0.2, 1.0),
    ):
        with pytest.raises(ValueError, match="rank r="):
            fn()
    for rho in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="rho"):
            geora_masks(W, 2, rho)
    with pytest.raises(ValueError, match="scaling"):
        minor_init(W, 2, 0.0)


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
