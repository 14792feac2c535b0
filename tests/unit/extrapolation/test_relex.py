"""RELEX on synthetic trajectories whose answer is known: a wrong definition (matrix-space
instead of trajectory-space rank 1, centred rows, a wrong step axis) fails."""

from __future__ import annotations

import pytest
import torch

from peft_rlvr_bench.extrapolation import relex as relex_module
from peft_rlvr_bench.extrapolation.alpharl import AlphaRL, AlphaRLParams
from peft_rlvr_bench.extrapolation.relex import RELEX, RELEXParams, combine, trajectory_gram
from tests.helpers.synthetic import BLOCK, F64, STEPS, randn, trajectory

# --- RELEX -----------------------------------------------------------------------------------


def test_relex_recovers_a_linear_rank1_trajectory_as_a_full_rank_update() -> None:
    w0, d = randn(6, 5, seed=0), randn(6, 5, seed=1)
    assert torch.linalg.matrix_rank(d) == 5
    weights = trajectory(w0, lambda t: (0.3 * t + 2.0) * d, STEPS)
    target = 10 * STEPS[-1]
    predicted = RELEX().predict(BLOCK, w0, STEPS, weights, target, RELEXParams())
    torch.testing.assert_close(predicted, w0 + (0.3 * target + 2.0) * d, rtol=1e-10, atol=1e-10)
    # Rank 1 in trajectory space, full rank as a matrix; AlphaRL's rank 1 is the matrix rank.
    assert torch.linalg.matrix_rank(predicted - w0) == 5
    alpharl = AlphaRL().predict(BLOCK, w0, STEPS, weights, target, AlphaRLParams())
    assert torch.linalg.matrix_rank(alpharl - w0) == 1


def test_relex_rank2_recovers_two_linear_directions_and_rank1_does_not() -> None:
    w0, d1, d2 = randn(5, 4, seed=0), randn(5, 4, seed=1), randn(5, 4, seed=2)
    weights = trajectory(w0, lambda t: (2.0 * t + 1.0) * d1 + (-0.5 * t + 30.0) * d2, STEPS)
    expected = w0 + (2.0 * 400 + 1.0) * d1 + (-0.5 * 400 + 30.0) * d2
    rank2 = RELEX().predict(BLOCK, w0, STEPS, weights, 400, RELEXParams(rank=2))
    torch.testing.assert_close(rank2, expected, rtol=1e-9, atol=1e-9)
    rank1 = RELEX().predict(BLOCK, w0, STEPS, weights, 400, RELEXParams(rank=1))
    assert (rank1 - expected).norm() > 1.0


def test_relex_degree2_recovers_a_quadratic_coefficient() -> None:
    w0, d = randn(4, 3, seed=3), randn(4, 3, seed=4)

    def coefficient(t: int) -> float:
        return 0.01 * t**2 - 0.3 * t + 5.0

    weights = trajectory(w0, lambda t: coefficient(t) * d, STEPS)
    quadratic = RELEX().predict(BLOCK, w0, STEPS, weights, 300, RELEXParams(degree=2))
    torch.testing.assert_close(quadratic, w0 + coefficient(300) * d, rtol=1e-9, atol=1e-9)
    linear = RELEX().predict(BLOCK, w0, STEPS, weights, 300, RELEXParams(degree=1))
    assert (linear - quadratic).norm() > 1.0


def test_relex_rows_are_not_centred_and_include_base_pins_the_origin() -> None:
    """A constant offset (delta = D at every step) is a real, stationary direction: RELEX keeps
    it (centring would erase it). With the base row, the fit must also pass through 0 at t=0."""
    w0, d = randn(3, 3, seed=5), randn(3, 3, seed=6)
    weights = trajectory(w0, lambda t: d, STEPS)
    torch.testing.assert_close(RELEX().predict(BLOCK, w0, STEPS, weights, 500, RELEXParams()), w0 + d)
    # Through (0, 0) and (t, c) with c constant, a least-squares line has a positive slope.
    pinned = RELEX().predict(BLOCK, w0, STEPS, weights, 500, RELEXParams(include_base=True))
    assert ((pinned - w0) / d).min() > 1.5


def test_relex_treats_1d_tensors_and_embeddings_too() -> None:
    for name, shape in [("model.norm.weight", (7,)), ("model.embed_tokens.weight", (9, 4))]:
        w0, d = randn(*shape, seed=7), randn(*shape, seed=8)
        weights = trajectory(w0, lambda t, d=d: t * d, STEPS)
        predicted = RELEX().predict(name, w0, STEPS, weights, 200, RELEXParams())
        torch.testing.assert_close(predicted, w0 + 200 * d)


def test_relex_zero_trajectory_returns_the_base() -> None:
    w0 = randn(4, 4, seed=9)
    predicted = RELEX().predict(BLOCK, w0, STEPS, [w0.clone() for _ in STEPS], 1000, RELEXParams(rank=2))
    assert torch.equal(predicted, w0)


def test_relex_window_uses_only_the_last_checkpoints() -> None:
    """Early checkpoints follow another line: with window=3 only the late line counts."""
    w0, d = randn(4, 3, seed=10), randn(4, 3, seed=11)
    steps = [10, 20, 30, 40, 50, 60]
    weights = trajectory(w0, lambda t: (t if t > 30 else 5 * t - 120) * d, steps)
    predicted = RELEX().predict(BLOCK, w0, steps, weights, 600, RELEXParams(window=3))
    torch.testing.assert_close(predicted, w0 + 600 * d)


def test_relex_streams_in_chunks_without_changing_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    w0 = randn(6, 5, seed=12)
    weights = [w0 + randn(6, 5, seed=20 + i) * (i + 1) for i in range(4)]
    gram = trajectory_gram(w0, weights)
    torch.testing.assert_close(trajectory_gram(w0, weights, chunk_elements=7), gram)
    deltas = torch.stack([(w - w0).reshape(-1) for w in weights])
    torch.testing.assert_close(gram, deltas @ deltas.T)
    alpha = torch.tensor([0.5, -1.0, 2.0, 0.25], dtype=F64)
    torch.testing.assert_close(
        combine(w0, weights, alpha, chunk_elements=5), w0 + (alpha @ deltas).view(6, 5)
    )
    full = RELEX().predict(BLOCK, w0, [1, 2, 3, 4], weights, 40, RELEXParams(rank=2))
    monkeypatch.setattr(relex_module, "CHUNK_ELEMENTS", 9)
    torch.testing.assert_close(
        RELEX().predict(BLOCK, w0, [1, 2, 3, 4], weights, 40, RELEXParams(rank=2)), full
    )


def test_relex_error_at_a_far_target_falls_as_the_window_grows() -> None:
    steps = list(range(1, 13))
    target = 120
    errors = {3: 0.0, 6: 0.0, 12: 0.0}
    for seed in range(5):
        w0, d = randn(8, 8, seed=100 + seed), randn(8, 8, seed=200 + seed)
        # The offset keeps every row's signal well above the noise, so a longer window helps
        # both the direction and the coefficient fit (each seed alone is monotone too).
        weights = [w0 + (t + 20) * d + 0.5 * randn(8, 8, seed=1000 * seed + t) for t in steps]
        truth = w0 + (target + 20) * d
        for window in errors:
            predicted = RELEX().predict(BLOCK, w0, steps, weights, target, RELEXParams(window=window))
            errors[window] += float((predicted - truth).norm() / truth.norm()) / 5
    assert errors[3] > errors[6] > errors[12], errors
