"""The residual adapters' SVD initialisations and GeoRA's masks, against the formulas with numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from peft_rlvr_bench.adapters.svd_math import geora_init, geora_masks, minor_init, principal_init

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
