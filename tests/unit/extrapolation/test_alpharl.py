"""AlphaRL on rank-1 trajectories whose answer is known: sign alignment, rescaling, what stays at W0."""

from __future__ import annotations

import pytest
import torch

from peft_rlvr_bench.extrapolation import (
    polyfit_at,
)
from peft_rlvr_bench.extrapolation.alpharl import AlphaRL, AlphaRLParams, alpharl_delta, top_singular_triple
from tests.helpers.synthetic import BLOCK, F64, STEPS, randn, trajectory

# --- AlphaRL ---------------------------------------------------------------------------------


def test_alpharl_recovers_a_rank1_update_whose_coefficient_changes_sign() -> None:
    """The coefficient is negative before step 30, zero at 30: the SVD's sign flips across the
    window and one checkpoint has no direction at all."""
    w0, u, v = randn(6, 4, seed=0), randn(6, seed=1), randn(4, seed=2)
    weights = trajectory(w0, lambda t: 0.2 * (t - 30) * torch.outer(u, v), STEPS)
    assert torch.equal(weights[2], w0)
    predicted = AlphaRL().predict(BLOCK, w0, STEPS, weights, 500, AlphaRLParams())
    torch.testing.assert_close(predicted, w0 + 0.2 * 470 * torch.outer(u, v), rtol=1e-10, atol=1e-10)


def test_alpharl_aligns_manually_flipped_singular_pairs() -> None:
    """Same update fed as triples, with (u, v) -> (-u, -v) at some checkpoints; without alignment
    the fitted a_t would zig-zag and the prediction would be wrong."""
    u, v = randn(5, seed=3), randn(3, seed=4)
    u, v = u / u.norm(), v / v.norm()
    coefficient = {10: 1.0, 20: 3.0, 30: 5.0, 40: 7.0}
    triples = [
        (torch.tensor(c, dtype=F64), -u if t in (10, 30) else u, -v if t in (10, 30) else v)
        for t, c in coefficient.items()
    ]
    delta = alpharl_delta(list(coefficient), triples, 100)
    torch.testing.assert_close(delta, 19.0 * torch.outer(u, v))
    # The right vector of the last checkpoint is the reference, whatever its sign.
    flipped_last = [*triples[:-1], (triples[-1][0], -u, -v)]
    torch.testing.assert_close(alpharl_delta(list(coefficient), flipped_last, 100), delta)


def test_alpharl_rescale_norm_matches_the_extrapolated_frobenius_norm() -> None:
    w0, u, v = randn(6, 4, seed=5), randn(6, seed=6), randn(4, seed=7)
    exact = trajectory(w0, lambda t: (0.1 * t + 1.0) * torch.outer(u, v), STEPS)
    plain = AlphaRL().predict(BLOCK, w0, STEPS, exact, 300, AlphaRLParams())
    rescaled = AlphaRL().predict(BLOCK, w0, STEPS, exact, 300, AlphaRLParams(rescale_norm=True))
    torch.testing.assert_close(rescaled, plain)  # a rank-1 linear path already has that norm
    # A growing second component adds Frobenius norm the rank-1 part lacks; rescaling restores it.
    w = randn(6, 4, seed=8)
    noisy = [x + 0.05 * t * w for x, t in zip(exact, STEPS, strict=True)]
    norms = torch.stack([(x - w0).norm() for x in noisy])
    expected = float(polyfit_at(STEPS, norms, 1, 300))
    rescaled = AlphaRL().predict(BLOCK, w0, STEPS, noisy, 300, AlphaRLParams(rescale_norm=True))
    assert abs(float((rescaled - w0).norm()) - expected) < 1e-8 * expected
    assert torch.linalg.matrix_rank(rescaled - w0) == 1


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("model.embed_tokens.weight", (10, 4)),
        ("lm_head.weight", (10, 4)),
        ("model.layers.0.input_layernorm.weight", (4,)),
        ("model.layers.0.self_attn.q_proj.bias", (4,)),
    ],
)
def test_alpharl_keeps_embeddings_norms_and_biases_at_the_base(name: str, shape: tuple) -> None:
    w0, d = randn(*shape, seed=9), randn(*shape, seed=10)
    predicted = AlphaRL().predict(
        name, w0, STEPS, trajectory(w0, lambda t: t * d, STEPS), 500, AlphaRLParams()
    )
    assert torch.equal(predicted, w0) and predicted.data_ptr() != w0.data_ptr()


def test_randomized_top_triple_matches_the_exact_one() -> None:
    u, v = randn(60, seed=11), randn(40, seed=12)
    matrix = 5.0 * torch.outer(u / u.norm(), v / v.norm()) + 0.1 * randn(60, 40, seed=13)
    s_exact, u_exact, v_exact = top_singular_triple(matrix)
    s_fast, u_fast, v_fast = top_singular_triple(matrix, exact_max_numel=0)
    assert abs(float(s_fast - s_exact)) < 1e-10
    assert abs(abs(float(u_fast @ u_exact)) - 1) < 1e-10 and abs(abs(float(v_fast @ v_exact)) - 1) < 1e-10
    assert torch.equal(top_singular_triple(matrix, exact_max_numel=0)[1], u_fast)  # deterministic
