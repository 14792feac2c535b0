"""Weight-geometry diagnostics on matrices whose answer is known in closed form (docs/methods.md,
"Weight geometry").

Each case is built so that a wrong definition fails: a sparsity that compares values instead of
stored bits, angles read from the wrong side, an energy share normalised by the wrong norm, a
baseline that is not the random expectation.
"""

from __future__ import annotations

import math

import pytest
import torch

from peft_rlvr_bench import geometry as geo
from peft_rlvr_bench.adapters.masks import principal_mask, random_mask
from tests.helpers.synthetic import F64, next_bf16, randn

METHODS = ["full", "gram", "randomized"]


def orthonormal(n: int, k: int, seed: int) -> torch.Tensor:
    return torch.linalg.qr(randn(n, k, seed=seed)).Q


def with_spectrum(S: torch.Tensor, out_features: int, in_features: int, seed: int) -> torch.Tensor:
    """``U diag(S) V^T`` with random orthonormal ``U`` and ``V``."""
    k = S.numel()
    return orthonormal(out_features, k, seed) @ torch.diag(S) @ orthonormal(in_features, k, seed + 1).T


# --- update sparsity ------------------------------------------------------------------------


def test_identical_weights_are_unchanged_unrotated_and_unshifted() -> None:
    W0 = randn(48, 40, seed=0, dtype=torch.bfloat16)
    for method in METHODS:
        params = geo.GeometryParams(ks=(4, 16, 64), method=method)
        summary = geo.summarise([("model.layers.0.mlp.up_proj.weight", W0, W0.clone())], params)
        matrix = summary.tensors[0].matrix
        assert summary.tensors[0].update_sparsity == 1.0
        assert matrix.spectral_shift == 0.0
        for k in (4, 16, 64):
            assert matrix.principal_angle_left_deg[k] == pytest.approx(0.0, abs=1e-6)
            assert matrix.principal_angle_right_deg[k] == pytest.approx(0.0, abs=1e-6)
        # No update: no direction, no rank, nothing to overlap.
        assert matrix.update_effective_rank is None
        assert matrix.top1_energy_share is None
        assert matrix.princ_overlap is None and matrix.frame_energy[16] is None
        assert matrix.princ_baseline == pytest.approx(0.5)


def test_bf16_sparsity_counts_exactly_the_touched_entries() -> None:
    W0 = randn(30, 20, seed=1, dtype=torch.bfloat16)
    touched = torch.tensor([0, 7, 19, 20, 133, 599])
    tuned = W0.clone().reshape(-1)
    tuned[touched] = next_bf16(tuned[touched])
    tuned = tuned.reshape(W0.shape)
    expected = 1 - len(touched) / W0.numel()
    assert geo.update_sparsity(W0, tuned) == expected
    # The paper's relative 1e-3 test is the bitwise test for bf16: one ulp is >= 2^-8 relative.
    assert torch.equal(geo.unchanged_mask(W0, tuned, rtol=1e-3), geo.unchanged_mask(W0, tuned))
    # An fp32 drift that rounds away in bf16 storage is not a change; in fp32 storage it is.
    drifted = W0.float() * (1 + 1e-4)
    assert geo.update_sparsity(W0, drifted) == 1.0
    assert geo.update_sparsity(W0, drifted, dtype=torch.float32) < 0.1
    changed = geo.summarise([("model.layers.0.self_attn.q_proj.weight", W0, tuned)]).tensors[0].changed
    assert changed == len(touched)


# --- spectrum and subspaces -----------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_principal_angles_of_a_known_rotation(method: str) -> None:
    """Rotating u1 towards u5 by theta in the output space: the top-4 left subspaces meet at
    exactly theta, the right ones and the spectrum do not move."""
    out_features, in_features, k, theta = 12, 9, 4, 0.3
    U = orthonormal(out_features, in_features, seed=2)
    S = torch.linspace(9.0, 1.0, in_features, dtype=F64)
    W0 = U @ torch.diag(S) @ orthonormal(in_features, in_features, seed=3).T
    a, b = U[:, 0], U[:, k]
    rotation = (
        torch.eye(out_features, dtype=F64)
        + (math.cos(theta) - 1) * (torch.outer(a, a) + torch.outer(b, b))
        + math.sin(theta) * (torch.outer(b, a) - torch.outer(a, b))
    )
    W1 = rotation @ W0
    d0, d1 = geo.decompose(W0, k, method), geo.decompose(W1, k, method)
    angles = geo.principal_angles(d0.U, d1.U)
    assert angles.tolist() == pytest.approx([0.0, 0.0, 0.0, theta], abs=1e-7)
    assert float(geo.principal_angles(d0.V, d1.V).max()) == pytest.approx(0.0, abs=1e-7)
    assert geo.spectral_shift(d0.S, d1.S) == pytest.approx(0.0, abs=1e-12)
    params = geo.GeometryParams(ks=(k,), method=method)
    matrix = geo.matrix_geometry(W0, W1, geo.unchanged_mask(W0, W1, torch.float64).logical_not(), params)
    assert matrix.principal_angle_left_deg[k] == pytest.approx(math.degrees(theta), abs=1e-5)
    assert matrix.principal_angle_right_deg[k] == pytest.approx(0.0, abs=1e-5)


def test_principal_angles_keep_small_angles_and_order() -> None:
    """Two planes in R^3 sharing e1, the second tilted by a tiny angle: arccos alone would give 0."""
    tiny = 1e-9
    A = torch.eye(3, dtype=F64)[:, :2]
    B = torch.tensor([[1.0, 0.0], [0.0, math.cos(tiny)], [0.0, math.sin(tiny)]], dtype=F64)
    assert geo.principal_angles(A, B).tolist() == pytest.approx([0.0, tiny], rel=1e-6, abs=1e-15)


def test_spectral_shift_is_normalised_by_the_base_spectrum() -> None:
    S0 = torch.tensor([4.0, 3.0, 0.0], dtype=F64)
    S1 = torch.tensor([4.0, 3.0, 1.0], dtype=F64)
    assert geo.spectral_shift(S0, S1) == pytest.approx(1 / 5)


def test_randomized_and_gram_agree_with_full_svd_on_a_low_rank_matrix() -> None:
    W = with_spectrum(torch.tensor([50.0, 20, 10, 8, 5, 3, 2, 1], dtype=F64), 120, 90, seed=4)
    full = geo.decompose(W, 8, "full")
    for method in ("gram", "randomized"):
        other = geo.decompose(W, 8, method, niter=2, oversample=4)
        assert torch.allclose(other.S, full.S, atol=1e-9)
        assert float(geo.principal_angles(full.U, other.U).max()) < 1e-7
        assert float(geo.principal_angles(full.V, other.V).max()) < 1e-7
    assert int((full.S > 0).sum()) == 8  # rounding-level singular values are zeroed


def test_principal_mask_matches_the_sparse_adapters_mask() -> None:
    W0 = randn(40, 24, seed=5, dtype=torch.bfloat16)
    for method in METHODS:
        d0 = geo.decompose(W0, 16, method)
        ours = geo.top_fraction_mask(geo.rank_k_reconstruction(d0, W0).abs(), 0.5)
        assert torch.equal(ours, principal_mask(W0, 16, 0.5))


# --- update rank and energy -----------------------------------------------------------------


def test_rank_one_update_has_effective_rank_one_and_all_energy_on_top() -> None:
    W0 = randn(64, 48, seed=6)
    W1 = W0 + 0.5 * torch.outer(randn(64, seed=7), randn(48, seed=8))
    changed = torch.ones(W0.shape, dtype=torch.bool)
    for method in METHODS:
        matrix = geo.matrix_geometry(W0, W1, changed, geo.GeometryParams(ks=(16,), method=method))
        assert matrix.update_effective_rank == pytest.approx(1.0, abs=1e-9)
        assert matrix.top1_energy_share == pytest.approx(1.0, abs=1e-12)


def test_effective_rank_and_energy_share_of_known_spectra() -> None:
    two_equal = torch.tensor([3.0, 3.0, 0.0], dtype=F64)
    assert geo.effective_rank(two_equal) == pytest.approx(2.0)
    assert geo.top1_energy_share(two_equal) == pytest.approx(0.5)
    # Roy-Vetterli normalises sigma (not sigma^2): p = (3/4, 1/4).
    uneven = torch.tensor([3.0, 1.0], dtype=F64)
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert geo.effective_rank(uneven) == pytest.approx(math.exp(entropy))
    assert geo.top1_energy_share(uneven) == pytest.approx(0.9)
    assert geo.stable_rank(torch.tensor([2.0, 1.0, 1.0, 1.0], dtype=F64)) == pytest.approx(7 / 4)


def test_hill_alpha_recovers_a_power_law_spectrum() -> None:
    """Eigenvalues at the exact quantiles of a Pareto law with density exponent 3."""
    n, density_exponent = 600, 3.0
    quantiles = (n / torch.arange(1, n + 1, dtype=F64)) ** (1 / (density_exponent - 1))
    S = quantiles.sqrt()[torch.randperm(n, generator=torch.Generator().manual_seed(9))]  # order-free
    assert geo.hill_alpha(S, tail_fraction=0.5) == pytest.approx(density_exponent, rel=0.02)
    # Through a matrix with that spectrum, eigenvalues of W^T W are sigma^2.
    W = with_spectrum(quantiles[:60].sqrt(), 70, 60, seed=9)
    S = geo.decompose(W, 0, "gram").S
    assert geo.hill_alpha(S, tail_fraction=0.5) == pytest.approx(geo.hill_alpha(quantiles[:60].sqrt(), 0.5))
    assert geo.hill_alpha(torch.ones(50, dtype=F64)) == math.inf  # flat: no tail


# --- off-principal alignment and its random baselines ---------------------------------------


def test_mask_overlap_of_random_changes_averages_to_the_baseline() -> None:
    shape, draws = (30, 20), 400
    region = random_mask(shape, 0.3, torch.Generator().manual_seed(10))
    generator = torch.Generator().manual_seed(11)
    overlaps = []
    for _ in range(draws):
        overlap, baseline = geo.mask_overlap(random_mask(shape, 0.1, generator), region)
        overlaps.append(overlap)
    n, c, fraction = 600, 60, baseline
    assert baseline == 180 / 600
    # Hypergeometric standard error of the mean overlap over the draws.
    se = math.sqrt(fraction * (1 - fraction) * (n - c) / (n - 1) / c / draws)
    assert abs(sum(overlaps) / draws - baseline) < 4 * se
    assert geo.mask_overlap(region, region) == (1.0, baseline)
    assert math.isnan(geo.mask_overlap(torch.zeros(shape, dtype=torch.bool), region)[0])


def test_frame_energy_of_random_updates_averages_to_its_baseline() -> None:
    out_features, in_features, k, draws = 24, 16, 4, 400
    U, V = orthonormal(out_features, k, seed=12), orthonormal(in_features, k, seed=13)
    baseline = geo.frame_energy_baseline((out_features, in_features), k)
    assert baseline == k * k / (out_features * in_features)
    energies = [geo.frame_energy(randn(out_features, in_features, seed=100 + i), U, V) for i in range(draws)]
    mean = sum(energies) / draws
    assert abs(mean - baseline) < 0.15 * baseline
    # Inside the frame: all of it.
    assert geo.frame_energy(U @ randn(k, k, seed=14) @ V.T, U, V) == pytest.approx(1.0)
    assert geo.frame_energy_baseline((8, 100), 16) == 8 * 16 / 800
