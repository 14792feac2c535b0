"""Weight-geometry diagnostics on matrices whose answer is known in closed form (METHODS.md §3).

Each case is built so that a wrong definition fails: a sparsity that compares values instead of
stored bits, angles read from the wrong side, an energy share normalised by the wrong norm, a
baseline that is not the random expectation, a centred trajectory.
"""

from __future__ import annotations

import math

import pytest
import torch

from peft_rlvr_bench import geometry as geo
from peft_rlvr_bench.adapters.masks import principal_mask, random_mask

F64 = torch.float64
METHODS = ["full", "gram", "randomized"]


def randn(*shape: int, seed: int, dtype: torch.dtype = F64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64).to(dtype)


def orthonormal(n: int, k: int, seed: int) -> torch.Tensor:
    return torch.linalg.qr(randn(n, k, seed=seed)).Q


def with_spectrum(S: torch.Tensor, out_features: int, in_features: int, seed: int) -> torch.Tensor:
    """``U diag(S) V^T`` with random orthonormal ``U`` and ``V``."""
    k = S.numel()
    return orthonormal(out_features, k, seed) @ torch.diag(S) @ orthonormal(in_features, k, seed + 1).T


def next_bf16(values: torch.Tensor) -> torch.Tensor:
    """The adjacent bf16 bit pattern (one unit in the last place), for positive and negative values."""
    return (values.contiguous().view(torch.int16) + 1).view(torch.bfloat16)


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


# --- trajectories ---------------------------------------------------------------------------


def test_trajectory_explained_variance_rank_one_and_two_directions() -> None:
    W0 = randn(10, 6, seed=15)
    direction = randn(10, 6, seed=16)
    rank_one = [W0 + c * direction for c in (0.5, 1.0, 3.0, -2.0)]
    assert geo.trajectory_explained_variance(W0, rank_one) == pytest.approx(1.0, abs=1e-12)
    # Uncentred: a constant offset is one direction, not zero variance.
    assert geo.trajectory_explained_variance(W0, [W0 + direction] * 3) == pytest.approx(1.0)
    # Two orthogonal directions of equal energy: exactly half each.
    A = torch.zeros(10, 6, dtype=F64)
    B = torch.zeros(10, 6, dtype=F64)
    A[0, 0], B[1, 1] = 1.0, 1.0
    assert geo.trajectory_explained_variance(W0, [W0 + A, W0 + B]) == pytest.approx(0.5)
    two = [W0 + direction, W0 + randn(10, 6, seed=17)]
    assert geo.trajectory_explained_variance(W0, two) < 0.99
    assert math.isnan(geo.trajectory_explained_variance(W0, [W0, W0]))


@pytest.mark.parametrize("method", METHODS)
def test_left_vector_alignment_follows_a_rotating_direction(method: str) -> None:
    W0 = randn(8, 5, seed=18)
    e1, e2 = torch.eye(8, dtype=F64)[0], torch.eye(8, dtype=F64)[1]
    v = torch.eye(5, dtype=F64)[2]
    phis = [0.0, 0.4, 1.0, 1.2]
    weights = [W0 + 2.0 * torch.outer(math.cos(p) * e1 + math.sin(p) * e2, v) for p in phis]
    alignment = geo.left_vector_alignment(W0, weights, method)
    assert alignment == pytest.approx([abs(math.cos(phis[-1] - p)) for p in phis], abs=1e-7)
    assert math.isnan(geo.left_vector_alignment(W0, [W0, weights[-1]], method)[0])


# --- the streaming summary ------------------------------------------------------------------


def test_summary_groups_by_layer_type_and_depth_and_pools_sparsity() -> None:
    names_and_shapes = [
        ("model.embed_tokens.weight", (50, 16)),
        ("model.layers.0.self_attn.q_proj.weight", (16, 16)),
        ("model.layers.0.mlp.down_proj.weight", (16, 32)),
        ("model.layers.0.input_layernorm.weight", (16,)),
        ("model.layers.1.self_attn.q_proj.weight", (16, 16)),
        ("lm_head.weight", (50, 16)),
    ]
    touched_per_tensor = {name: 3 * (i + 1) for i, (name, _) in enumerate(names_and_shapes)}
    seen: list[str] = []

    def pairs():  # a generator: the summary must stream
        for i, (name, shape) in enumerate(names_and_shapes):
            seen.append(name)
            base = randn(*shape, seed=20 + i, dtype=torch.bfloat16)
            tuned = base.clone().reshape(-1)
            where = torch.arange(touched_per_tensor[name])
            tuned[where] = next_bf16(tuned[where])
            yield name, base, tuned.reshape(shape)

    summary = geo.summarise(pairs(), geo.GeometryParams(ks=(4,), mask_k=4))
    assert seen == [name for name, _ in names_and_shapes]
    by_name = {t.name: t for t in summary.tensors}
    assert by_name["model.embed_tokens.weight"].matrix is None
    assert by_name["lm_head.weight"].matrix is None
    assert by_name["model.layers.0.input_layernorm.weight"].matrix is None
    assert by_name["model.layers.0.input_layernorm.weight"].update_sparsity == 1 - 12 / 16
    assert set(summary.by_layer_type) == {"q_proj", "down_proj"}
    assert set(summary.by_depth) == {0, 1}
    assert summary.by_layer_type["q_proj"].tensors == 2
    assert summary.by_depth[0].tensors == 2
    blocks = ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight"]
    blocks.append("model.layers.1.self_attn.q_proj.weight")
    pooled = 1 - sum(touched_per_tensor[n] for n in blocks) / sum(by_name[n].numel for n in blocks)
    assert summary.headline.update_sparsity == pytest.approx(pooled)
    all_pooled = 1 - sum(touched_per_tensor.values()) / sum(t.numel for t in summary.tensors)
    assert summary.update_sparsity_all == pytest.approx(all_pooled)
    shifts = [by_name[n].matrix.spectral_shift for n in blocks]
    assert summary.headline.means["spectral_shift"] == pytest.approx(sum(shifts) / 3)
    assert summary.headline.means["principal_angle_left_deg@4"] is not None
    # Round-trips through JSON (undefined values are None, never NaN).
    assert geo.GeometrySummary.model_validate_json(summary.model_dump_json()) == summary


def test_names_give_layer_type_and_depth() -> None:
    assert geo.layer_type("model.layers.12.self_attn.o_proj.weight") == "o_proj"
    assert geo.layer_type("model.layers.3.mlp.gate_proj.base_layer.weight") == "gate_proj"
    assert geo.layer_index("model.layers.12.self_attn.o_proj.weight") == 12
    assert geo.layer_index("model.decoder.layers.7.fc1.weight") == 7
    assert geo.layer_index("model.norm.weight") is None
    assert geo.layer_index("model.sublayers.4.x.weight") is None


def test_shape_mismatch_names_the_tensor() -> None:
    with pytest.raises(ValueError, match="q_proj"):
        geo.summarise([("layers.0.q_proj.weight", torch.zeros(4, 4), torch.zeros(4, 5))])
