"""Extrapolators on synthetic trajectories whose answer is known (METHODS.md §2).

Each test builds ``W_t`` from a closed form, records a few steps, and checks the prediction far
beyond them; the structure is chosen so a wrong definition (matrix-space instead of trajectory-
space rank 1, missing sign alignment, centred rows, a wrong step axis) fails.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence

import pytest
import torch
from pydantic import ValidationError

from peft_rlvr_bench.architecture import is_block_matrix
from peft_rlvr_bench.extrapolation import (
    ExtrapolatorParams,
    extrapolate_state,
    is_norm_or_bias,
    polyfit_at,
)
from peft_rlvr_bench.extrapolation import relex as relex_module
from peft_rlvr_bench.extrapolation.alpharl import AlphaRL, AlphaRLParams, alpharl_delta, top_singular_triple
from peft_rlvr_bench.extrapolation.linear import Linear, LinearParams
from peft_rlvr_bench.extrapolation.relex import RELEX, RELEXParams, combine, trajectory_gram
from peft_rlvr_bench.registry import EXTRAPOLATORS

F64 = torch.float64
BLOCK = "model.layers.0.self_attn.q_proj.weight"
STEPS = [10, 20, 30, 40, 50]


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def trajectory(w0: torch.Tensor, delta_at: Callable[[int], torch.Tensor], steps: Sequence[int]) -> list:
    return [w0 + delta_at(t) for t in steps]


def test_registry_resolves_each_extrapolator_to_its_class() -> None:
    for name, cls in {"linear": Linear, "relex": RELEX, "alpharl": AlphaRL}.items():
        assert EXTRAPOLATORS.get(name) is cls
        assert issubclass(cls.Params, ExtrapolatorParams)
        cls.Params()  # defaults are valid
    with pytest.raises(ValidationError):
        RELEXParams(rank=0)
    with pytest.raises(ValidationError):
        AlphaRLParams(windw=3)


def test_params_import_no_torch() -> None:
    """``prb validate`` reads ``Params``; it must not pay for importing torch."""
    code = (
        "import sys\n"
        "from peft_rlvr_bench.registry import EXTRAPOLATORS\n"
        "[EXTRAPOLATORS.get(n).Params() for n in ('linear', 'relex', 'alpharl')]\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_tensor_kinds() -> None:
    assert is_block_matrix("model.layers.3.mlp.down_proj.weight", torch.zeros(4, 3))
    assert not is_block_matrix("model.embed_tokens.weight", torch.zeros(4, 3))
    assert not is_block_matrix("lm_head.weight", torch.zeros(4, 3))
    assert not is_block_matrix("model.norm.weight", torch.zeros(4))
    assert is_norm_or_bias("model.layers.0.input_layernorm.weight", torch.zeros(4))
    assert not is_norm_or_bias(BLOCK, torch.zeros(4, 3))


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


# --- Linear ----------------------------------------------------------------------------------


def test_linear_recovers_a_linear_path_and_copies_1d_tensors_from_t1() -> None:
    w0, d = randn(5, 4, seed=0), randn(5, 4, seed=1)
    weights = trajectory(w0, lambda t: (t + 7.0) * d, STEPS)
    for params in (LinearParams(), LinearParams(t0_index=0, t1_index=2)):
        predicted = Linear().predict(BLOCK, w0, STEPS, weights, 137, params)
        torch.testing.assert_close(predicted, w0 + 144.0 * d)
    norm = [randn(6, seed=s) for s in range(len(STEPS))]  # not on any line
    base_norm = torch.ones(6, dtype=F64)
    assert torch.equal(
        Linear().predict("model.norm.weight", base_norm, STEPS, norm, 500, LinearParams()), norm[-1]
    )
    copied = Linear().predict("model.norm.weight", base_norm, STEPS, norm, 500, LinearParams(t1_index=1))
    assert torch.equal(copied, norm[1])


# --- Shared contract -------------------------------------------------------------------------

EXTRAPOLATORS_UNDER_TEST = [
    (Linear(), LinearParams()),
    (RELEX(), RELEXParams()),
    (AlphaRL(), AlphaRLParams()),
]


@pytest.mark.parametrize(("extrapolator", "params"), EXTRAPOLATORS_UNDER_TEST)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_dtype_is_preserved_and_the_value_matches_float64(extrapolator, params, dtype) -> None:
    w0, d = randn(8, 6, seed=2), randn(8, 6, seed=3)
    weights = trajectory(w0, lambda t: 0.01 * t * d, STEPS)
    reference = extrapolator.predict(BLOCK, w0, STEPS, weights, 100, params)
    low = extrapolator.predict(BLOCK, w0.to(dtype), STEPS, [w.to(dtype) for w in weights], 100, params)
    assert low.dtype == dtype and low.shape == w0.shape
    torch.testing.assert_close(low.to(F64), reference, rtol=0.05, atol=0.05)


@pytest.mark.parametrize(("extrapolator", "params"), EXTRAPOLATORS_UNDER_TEST)
def test_extrapolate_state_streams_one_tensor_at_a_time(extrapolator, params) -> None:
    shapes = {BLOCK: (6, 4), "model.norm.weight": (4,), "model.embed_tokens.weight": (9, 4)}
    base = {name: randn(*shape, seed=i) for i, (name, shape) in enumerate(shapes.items())}
    direction = {name: randn(*shape, seed=10 + i) for i, (name, shape) in enumerate(shapes.items())}
    calls: list[tuple[str, str]] = []

    def base_of(name: str) -> torch.Tensor:
        calls.append(("base", name))
        return base[name]

    def trajectory_of(name: str) -> list:
        calls.append(("trajectory", name))
        return trajectory(base[name], lambda t: t * direction[name], STEPS)

    stream = extrapolate_state(extrapolator, params, list(shapes), base_of, trajectory_of, STEPS, 250)
    first_name, _ = next(stream)
    assert first_name == BLOCK and calls == [("base", BLOCK), ("trajectory", BLOCK)]
    results = {first_name: _, **dict(stream)}
    assert [c for c in calls if c[0] == "trajectory"] == [("trajectory", n) for n in shapes]
    for name in shapes:
        expected = extrapolator.predict(name, base[name], STEPS, trajectory_of(name), 250, params)
        assert torch.equal(results[name], expected)


@pytest.mark.parametrize(("extrapolator", "params"), EXTRAPOLATORS_UNDER_TEST)
def test_bad_input_is_a_clear_value_error(extrapolator, params) -> None:
    w0 = randn(4, 3, seed=0)
    with pytest.raises(ValueError, match="at least 2"):
        extrapolator.predict(BLOCK, w0, [10], [w0 + 1], 100, params)
    with pytest.raises(ValueError, match=r"step 20 has shape \(3, 4\).*base has shape \(4, 3\)"):
        extrapolator.predict(BLOCK, w0, [10, 20], [w0, w0.T.clone()], 100, params)
    with pytest.raises(ValueError, match="2 weights for 3 steps"):
        extrapolator.predict(BLOCK, w0, [10, 20, 30], [w0, w0], 100, params)
    with pytest.raises(ValueError, match="strictly ascending"):
        extrapolator.predict(BLOCK, w0, [20, 10], [w0, w0], 100, params)
    with pytest.raises(ValueError, match="non-negative"):
        extrapolator.predict(BLOCK, w0, [10, 20], [w0, w0], -5, params)
    loaded: list[str] = []
    with pytest.raises(ValueError, match="at least 2"):  # checked before any tensor is loaded
        next(extrapolate_state(extrapolator, params, [BLOCK], loaded.append, loaded.append, [10], 100))
    assert loaded == []


def test_method_specific_bad_input() -> None:
    w0 = randn(4, 3, seed=0)
    weights = [w0 + t for t in (1, 2, 3)]
    with pytest.raises(ValueError, match="rank=4 exceeds the 3 trajectory rows"):
        RELEX().predict(BLOCK, w0, [1, 2, 3], weights, 10, RELEXParams(rank=4))
    with pytest.raises(ValueError, match="degree-3 fit needs at least 4 trajectory rows"):
        RELEX().validate([1, 2, 3], 10, RELEXParams(degree=3))
    with pytest.raises(ValueError, match="at least 2 trajectory rows, got 1"):  # step 0 is not an observation
        RELEX().validate([0, 5], 10, RELEXParams())
    RELEX().validate([5], 10, RELEXParams(include_base=True))  # the base row makes two
    with pytest.raises(ValueError, match="after step 0"):
        AlphaRL().validate([0, 5], 10, AlphaRLParams())
    with pytest.raises(ValueError, match="name the same checkpoint"):
        Linear().validate([1, 2, 3], 10, LinearParams(t0_index=2, t1_index=-1))
    with pytest.raises(ValueError, match="out of range"):
        Linear().validate([1, 2, 3], 10, LinearParams(t0_index=-4))
    Linear().validate([1, 2, 3], 2, LinearParams())  # interpolation is allowed
