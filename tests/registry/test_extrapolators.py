"""The shared extrapolator matrix: every registered extrapolator is held to the same invariants.

Three kinds share the registry: methods that predict a later checkpoint from the recorded ones
(``linear``, ``relex``, ``alpharl``), methods that rebuild a recorded checkpoint (``rank1``,
``blocks_only``: the target must be a recorded update) and methods that drive more RL between
predictions (``regrounding``, ``next``: a ``TrainingSession``). Each must recover a trajectory
whose answer is known, keep the base's dtype, stream one tensor at a time, refuse bad input before
loading anything, and return a state dict that loads into the base model. Adding an extrapolator
means adding one row to ``CASES``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import ValidationError

from peft_rlvr_bench.extrapolation import (
    ExtrapolatorParams,
    extrapolate_state,
)
from peft_rlvr_bench.extrapolation.alpharl import AlphaRL, AlphaRLParams
from peft_rlvr_bench.extrapolation.linear import Linear
from peft_rlvr_bench.extrapolation.relex import RELEX, RELEXParams
from peft_rlvr_bench.registry import EXTRAPOLATORS
from peft_rlvr_bench.trajectory import Trajectory, TrajectoryRecorder
from tests.helpers.coverage import check_rows
from tests.helpers.sessions import FakeSession, State
from tests.helpers.synthetic import BLOCK, F64, STEPS, randn, trajectory
from tests.helpers.tiny_models import tiny_llama


@dataclass(frozen=True)
class Case:
    params: dict[str, Any] = field(default_factory=dict)
    """Valid parameters for the tests' small trajectories."""
    kind: str = "predicts"
    """``predicts`` a later update, ``rebuilds`` a recorded one, or ``drives`` more RL."""
    min_points: int = 2
    """Recorded checkpoints a pure method needs at least."""
    exact_on_a_line: bool = True
    """A driven method's matrices land exactly on a linear RL path (NExt's step is a learned
    predictor's, so only its bookkeeping and the state's shape are shared)."""


CASES: dict[str, Case] = {
    "linear": Case(),
    "relex": Case(),
    "alpharl": Case(),
    "rank1": Case(kind="rebuilds", min_points=1),
    "blocks_only": Case(kind="rebuilds", min_points=1),
    "regrounding": Case({"jump": 10}, kind="drives"),
    "next": Case(
        {"interval": 5, "horizon": 5, "coefs": [0.5, 1.0], "continue_steps": 5, "hidden": 8, "epochs": 20},
        kind="drives",
        exact_on_a_line=False,
    ),
}
PURE = sorted(name for name, case in CASES.items() if case.kind != "drives")
DRIVEN = sorted(name for name, case in CASES.items() if case.kind == "drives")


def make(name: str) -> tuple[Any, Any]:
    cls = EXTRAPOLATORS.get(name)
    return cls(), cls.Params.model_validate(CASES[name].params)


def target_for(name: str, beyond: int) -> int:
    """``beyond`` for a method that predicts; the last recorded update for one that rebuilds."""
    return STEPS[-1] if CASES[name].kind == "rebuilds" else beyond


def test_every_registered_extrapolator_has_a_row() -> None:
    check_rows(EXTRAPOLATORS, CASES, "CASES of tests/registry/test_extrapolators.py")


def test_driven_methods_are_marked_and_pure_ones_are_not() -> None:
    assert EXTRAPOLATORS.get("regrounding").drives_training and EXTRAPOLATORS.get("next").drives_training
    assert not any(EXTRAPOLATORS.get(name).drives_training for name in ("linear", "relex", "alpharl"))
    for name, case in CASES.items():
        assert EXTRAPOLATORS.get(name).drives_training is (case.kind == "drives"), name


def test_registry_resolves_each_extrapolator_to_its_class() -> None:
    for name, cls in {"linear": Linear, "relex": RELEX, "alpharl": AlphaRL}.items():
        assert EXTRAPOLATORS.get(name) is cls
        assert issubclass(cls.Params, ExtrapolatorParams)
        cls.Params()  # defaults are valid
    with pytest.raises(ValidationError):
        RELEXParams(rank=0)
    with pytest.raises(ValidationError):
        AlphaRLParams(windw=3)


@pytest.mark.parametrize("name", sorted(CASES))
def test_params_are_validated_and_misspelt_ones_refused(name: str) -> None:
    cls = EXTRAPOLATORS.get(name)
    assert issubclass(cls.Params, ExtrapolatorParams)
    cls.Params.model_validate(CASES[name].params)
    with pytest.raises(ValidationError):
        cls.Params.model_validate({**CASES[name].params, "windw": 3})


def test_params_import_no_torch() -> None:
    """``prb validate`` reads ``Params``; it must not pay for importing torch."""
    code = (
        "import sys\n"
        "from peft_rlvr_bench.registry import EXTRAPOLATORS\n"
        f"[EXTRAPOLATORS.get(n).Params() for n in {PURE!r}]\n"
        f"[EXTRAPOLATORS.get(n).Params for n in {sorted(CASES)!r}]\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# --- Methods that predict or rebuild from the records ------------------------------------------


@pytest.mark.parametrize("name", PURE)
def test_a_linear_rank1_trajectory_is_recovered_at_the_target(name: str) -> None:
    """On ``W_t = W0 + (0.3 t + 2) u v^T`` every method is exact: a line in time, rank 1 as a matrix
    and as a trajectory. A rebuilding method returns the recorded checkpoint itself."""
    extrapolator, params = make(name)
    w0, u, v = randn(6, 5, seed=0), randn(6, seed=1), randn(5, seed=2)
    weights = trajectory(w0, lambda t: (0.3 * t + 2.0) * torch.outer(u, v), STEPS)
    target = target_for(name, 400)
    predicted = extrapolator.predict(BLOCK, w0, STEPS, weights, target, params)
    torch.testing.assert_close(predicted, w0 + (0.3 * target + 2.0) * torch.outer(u, v), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", PURE)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_dtype_is_preserved_and_the_value_matches_float64(name: str, dtype: torch.dtype) -> None:
    extrapolator, params = make(name)
    target = target_for(name, 100)
    w0, d = randn(8, 6, seed=2), randn(8, 6, seed=3)
    weights = trajectory(w0, lambda t: 0.01 * t * d, STEPS)
    reference = extrapolator.predict(BLOCK, w0, STEPS, weights, target, params)
    low = extrapolator.predict(BLOCK, w0.to(dtype), STEPS, [w.to(dtype) for w in weights], target, params)
    assert low.dtype == dtype and low.shape == w0.shape
    torch.testing.assert_close(low.to(F64), reference, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("name", PURE)
def test_extrapolate_state_streams_one_tensor_at_a_time(name: str) -> None:
    extrapolator, params = make(name)
    target = target_for(name, 250)
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

    stream = extrapolate_state(extrapolator, params, list(shapes), base_of, trajectory_of, STEPS, target)
    first_name, _ = next(stream)
    assert first_name == BLOCK and calls == [("base", BLOCK), ("trajectory", BLOCK)]
    results = {first_name: _, **dict(stream)}
    assert [c for c in calls if c[0] == "trajectory"] == [("trajectory", n) for n in shapes]
    for tensor in shapes:
        expected = extrapolator.predict(tensor, base[tensor], STEPS, trajectory_of(tensor), target, params)
        assert torch.equal(results[tensor], expected)


@pytest.mark.parametrize("name", PURE)
def test_bad_input_is_a_clear_value_error(name: str) -> None:
    extrapolator, params = make(name)
    rebuilds = CASES[name].kind == "rebuilds"
    few, needed = [10, 20][: CASES[name].min_points - 1], f"at least {CASES[name].min_points}"
    w0 = randn(4, 3, seed=0)
    with pytest.raises(ValueError, match=needed):
        extrapolator.predict(BLOCK, w0, few, [w0 + 1 for _ in few], 100, params)
    with pytest.raises(ValueError, match=r"step 20 has shape \(3, 4\).*base has shape \(4, 3\)"):
        extrapolator.predict(BLOCK, w0, [10, 20], [w0, w0.T.clone()], 20 if rebuilds else 100, params)
    with pytest.raises(ValueError, match="2 weights for 3 steps"):
        extrapolator.predict(BLOCK, w0, [10, 20, 30], [w0, w0], 30 if rebuilds else 100, params)
    with pytest.raises(ValueError, match="strictly ascending"):
        extrapolator.predict(BLOCK, w0, [20, 10], [w0, w0], 100, params)
    with pytest.raises(ValueError, match="non-negative"):
        extrapolator.predict(BLOCK, w0, [10, 20], [w0, w0], -5, params)
    if rebuilds:
        with pytest.raises(ValueError, match="not among the recorded updates"):
            extrapolator.predict(BLOCK, w0, [10, 20], [w0, w0], 15, params)
    loaded: list[str] = []
    with pytest.raises(ValueError, match=needed):  # checked before any tensor is loaded
        next(extrapolate_state(extrapolator, params, [BLOCK], loaded.append, loaded.append, few, 100))
    assert loaded == []


# --- Every kind: a whole model's state that loads into the base ---------------------------------


def base_model() -> torch.nn.Module:
    return tiny_llama(tie_word_embeddings=False)


def linear_model_path(rate: float = 1e-3) -> tuple[Callable[[float], State], Callable[[int], State]]:
    """Every parameter of the tiny model moving on a line; and the move of ``updates`` updates."""
    w0 = {name: p.detach().clone() for name, p in base_model().named_parameters()}
    direction = {name: randn(*w.shape, seed=i, dtype=w.dtype) for i, (name, w) in enumerate(w0.items())}

    def path(t: float) -> State:
        return {name: w0[name] + rate * t * direction[name] for name in w0}

    def velocity(updates: int) -> State:
        return {name: rate * updates * direction[name] for name in w0}

    return path, velocity


def record(path: Callable[[float], State], updates: list[int], directory: Path) -> Trajectory:
    """A real trajectory on disk of a plain model that follows ``path``."""
    model = base_model()
    recorder = TrajectoryRecorder(directory, every=1, base_reference="tiny-llama", background=False)
    for update in updates:
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                parameter.copy_(path(update)[name])
        recorder.record(model, update)
    return Trajectory(directory)


def assert_loads_into_the_base(state: Mapping[str, torch.Tensor], base: torch.nn.Module) -> None:
    expected = base.state_dict()
    assert list(state) == list(expected), "the base's keys, in its order"
    for key, tensor in state.items():
        assert tensor.shape == expected[key].shape and tensor.dtype == expected[key].dtype, key
        assert bool(torch.isfinite(tensor).all()), key
    assert not base.load_state_dict(dict(state), strict=True).missing_keys


@pytest.mark.parametrize("name", PURE)
def test_the_prediction_of_a_whole_model_loads_into_the_base(name: str) -> None:
    extrapolator, params = make(name)
    path, _ = linear_model_path()
    base = base_model()
    names = list(base.state_dict())
    predicted = dict(
        extrapolate_state(
            extrapolator,
            params,
            names,
            lambda tensor: path(0)[tensor],
            lambda tensor: [path(t)[tensor] for t in STEPS],
            STEPS,
            target_for(name, 100),
        )
    )
    assert_loads_into_the_base(predicted, base)


@pytest.mark.parametrize("name", DRIVEN)
def test_a_driven_method_loads_into_the_base_and_counts_its_real_updates(name: str, tmp_path: Path) -> None:
    extrapolator, params = make(name)
    observe, target = 20, 60
    path, velocity = linear_model_path()
    extrapolator.validate(observe, target, 1, params)
    recorded = list(range(observe + 1))
    session = FakeSession(
        path,
        recorded,
        velocity,
        accuracy=lambda state: -sum(float((state[n] - path(target)[n]).norm()) for n in state),
    )
    session.trajectory = record(path, recorded, tmp_path / "trajectory")
    outcome = extrapolator.run(session, observe, target, params)
    assert_loads_into_the_base(outcome.state, base_model())
    assert outcome.updates_used == observe + sum(updates for updates, _ in session.trained) <= target
    if CASES[name].exact_on_a_line:  # matrices; 1-D tensors are copied from a segment's end, not jumped
        matrices = {tensor: w for tensor, w in path(target).items() if w.ndim == 2}
        assert len(matrices) > 10
        for tensor, expected in matrices.items():
            torch.testing.assert_close(outcome.state[tensor], expected)
