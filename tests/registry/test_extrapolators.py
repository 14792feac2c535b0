"""The shared extrapolator matrix."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from pydantic import ValidationError

from peft_rlvr_bench.extrapolation import (
    ExtrapolatorParams,
    extrapolate_state,
)
from peft_rlvr_bench.extrapolation.alpharl import AlphaRL, AlphaRLParams
from peft_rlvr_bench.extrapolation.linear import Linear, LinearParams
from peft_rlvr_bench.extrapolation.relex import RELEX, RELEXParams
from peft_rlvr_bench.registry import EXTRAPOLATORS
from tests.helpers.synthetic import BLOCK, F64, STEPS, randn, trajectory

# --- suites and the CLI -----------------------------------------------------------------------


def test_driven_methods_are_marked_and_pure_ones_are_not() -> None:
    assert EXTRAPOLATORS.get("regrounding").drives_training and EXTRAPOLATORS.get("next").drives_training
    assert not any(EXTRAPOLATORS.get(name).drives_training for name in ("linear", "relex", "alpharl"))


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
