"""NExt as its authors compute it (RUCAIBox/NExt): defaults, checkpoints, predicted updates and the
driver (its predictors: test_next_predictor.py; its features: test_next_features.py).

Synthetic trajectories make the right answer known; a stub predictor makes the plumbing (which
rows go to which predictor, how a prediction becomes a delta) checkable exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import SimpleNamespace

import pytest
import torch

from peft_rlvr_bench.extrapolation.next import (
    NExt,
    NExtParams,
    extend,
    pair_steps,
    predicted_updates,
)
from peft_rlvr_bench.extrapolation.next_features import (
    top_triple,
)

State = dict[str, torch.Tensor]
STEPS = list(range(0, 45, 5))


# --- the authors' defaults --------------------------------------------------------------------


def test_defaults_are_the_authors_settings() -> None:
    """``scripts/run_train.sh`` and ``scripts/run_extrapolate.sh`` of RUCAIBox/NExt."""
    params = NExtParams()
    assert params.coefs == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    assert (params.interval, params.horizon) == (10, 50)
    assert (params.hidden, params.epochs, params.lr) == (256, 1000, 2e-5)
    assert (params.predictor, params.vectors, params.untouched) == ("separate", "predict", "predict")
    assert not params.align_signs and not params.normalise


def test_checkpoints_lie_on_the_interval_grid() -> None:
    """The authors' checkpoints are ``interval`` apart; records in between are not training pairs."""
    assert pair_steps([0, 5, 10, 15, 20, 25, 30], interval=5, horizon=10) == [5, 10, 15, 20]
    assert pair_steps([0, 5, 10, 15, 20, 25, 30], interval=10, horizon=10) == [10, 20]
    assert pair_steps([0, 10, 20], interval=5, horizon=10) == []


# --- which rows go where, and how predictions become deltas -----------------------------------


def _random_walk() -> tuple[State, dict[str, list[torch.Tensor]]]:
    """Two 8x6 and one 6x8 matrices, norms of length 8 and 6, a frozen matrix and vector."""
    generator = torch.Generator().manual_seed(3)
    shapes = {"a.weight": (8, 6), "b.weight": (8, 6), "c.weight": (6, 8), "norm8": (8,), "norm6": (6,)}
    base, series = {}, {}
    for name, shape in shapes.items():
        base[name] = torch.randn(*shape, generator=generator, dtype=torch.float64)
        first, second = (1e-2 * torch.randn(*shape, generator=generator, dtype=torch.float64) for _ in "ab")
        series[name] = [base[name] + t * first + (t / 10) ** 2 * second for t in STEPS]
    for name, shape in {"frozen.weight": (4, 4), "frozen.norm": (4,)}.items():
        base[name] = torch.ones(*shape, dtype=torch.float64)
        series[name] = [base[name]] * len(STEPS)
    return base, series


class StubPredictor:
    """Records each predictor's dimension, tensors and checkpoints; predicts 3x the local query for
    vectors (so re-normalisation shows) and 0.5 for every sigma."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, int]] = []

    def __call__(self, kind, samples, queries, checkpoints, **kwargs) -> torch.Tensor:
        global_rows, _, _ = samples
        _, query_local = queries
        assert global_rows.shape[0] == checkpoints * query_local.shape[0]  # one row per tensor and pair
        self.calls.append((query_local.shape[1], query_local.shape[0], checkpoints))
        if query_local.shape[1] == 1:
            return torch.full_like(query_local, 0.5)
        return 3 * query_local


def _predict_with_stub(
    monkeypatch, **overrides
) -> tuple[StubPredictor, State, dict[str, list[torch.Tensor]]]:
    stub = StubPredictor()
    monkeypatch.setattr("peft_rlvr_bench.extrapolation.next_predictor.train_and_predict", stub)
    base, series = _random_walk()
    params = NExtParams(interval=5, horizon=10, **overrides)
    return stub, predicted_updates(list(base), base.__getitem__, series.__getitem__, STEPS, params), series


def test_u_sigma_and_v_each_get_a_predictor_per_length_and_vectors_share_the_columns(monkeypatch) -> None:
    stub, updates, series = _predict_with_stub(monkeypatch, untouched="keep")
    # (dim, tensors, checkpoints per tensor) for column 6, column 8, row 6, row 8, scalar:
    # column 6 holds c's u and norm6; column 8 holds a's and b's u and norm8.
    assert stub.calls == [(6, 2, 6), (8, 3, 6), (6, 2, 6), (8, 1, 6), (1, 3, 6)]
    for name in ("a.weight", "b.weight", "c.weight"):
        _, u, v = top_triple(series[name][-1] - series[name][-2])
        torch.testing.assert_close(updates[name], 0.5 * torch.outer(u, v))  # unit u and v, sigma 0.5
        assert float(torch.linalg.matrix_norm(updates[name], ord=2)) == pytest.approx(0.5)
    for name in ("norm8", "norm6"):  # the vector as predicted, not normalised
        torch.testing.assert_close(updates[name], 3 * (series[name][-1] - series[name][-2]))
    assert "frozen.weight" not in updates and "frozen.norm" not in updates


def test_untouched_tensors_are_predicted_by_default(monkeypatch) -> None:
    stub, updates, _ = _predict_with_stub(monkeypatch)
    assert (4, 2, 6) in stub.calls  # frozen.weight's u and frozen.norm share column 4
    e1 = torch.zeros(4, dtype=torch.float64)
    e1[0] = 1
    torch.testing.assert_close(updates["frozen.weight"], 0.5 * torch.outer(e1, e1))
    torch.testing.assert_close(updates["frozen.norm"], torch.zeros(4, dtype=torch.float64))


def test_vectors_can_be_extended_linearly_instead(monkeypatch) -> None:
    stub, updates, series = _predict_with_stub(monkeypatch, vectors="linear", untouched="keep")
    assert stub.calls[:2] == [(6, 1, 6), (8, 2, 6)]  # the norms left the column predictors
    torch.testing.assert_close(updates["norm8"], 2 * (series["norm8"][-1] - series["norm8"][-2]))


# --- what the trained predictors achieve ------------------------------------------------------


def test_raw_features_reproduce_a_stationary_rank1_trajectory() -> None:
    """Fixed factors, sigma growing linearly: the future delta is twice the local one. The
    authors' pipeline (raw features) learns that from the pairs and reproduces it.

    Each branch of the sigma predictor passes through one ReLU unit (the authors' layer sizes at
    dimension 1), so some initialisations leave sigma constant (seeds 5 and 6 here, while u and
    v are still exact); seed 0 is one that trains (docs/methods.md, "NExt")."""
    generator = torch.Generator().manual_seed(2)
    base, directions = {}, {}
    for i in range(6):
        base[f"m{i}"] = torch.randn(8, 6, generator=generator, dtype=torch.float64)
        u = torch.randn(8, generator=generator, dtype=torch.float64)
        v = torch.randn(6, generator=generator, dtype=torch.float64)
        directions[f"m{i}"] = 0.02 * (1 + 0.2 * i) * torch.outer(u / u.norm(), v / v.norm())
    series = {name: [base[name] + t * directions[name] for t in STEPS] for name in base}
    params = NExtParams(interval=5, horizon=10, hidden=32, epochs=1000, lr=3e-3, seed=0)
    updates = predicted_updates(list(base), base.__getitem__, series.__getitem__, STEPS, params)
    for name in base:
        truth = 10 * directions[name]
        assert float((updates[name] - truth).norm() / truth.norm()) < 0.02, name


def _rotating_trajectory(omega: float = 0.02) -> tuple[State, Callable[[str, float], torch.Tensor]]:
    """``W_t - W0 = s_i * integral_0^t (tau / 10) u(tau) d tau  v_i^T``: the left factor turns at
    ``omega`` radians per update in a plane every tensor shares, and the velocity grows."""
    generator = torch.Generator().manual_seed(2)
    plane = torch.linalg.qr(torch.randn(8, 2, generator=generator, dtype=torch.float64)).Q
    base, right = {}, {}
    for i in range(6):
        base[f"m{i}"] = torch.randn(8, 6, generator=generator, dtype=torch.float64)
        v = torch.randn(6, generator=generator, dtype=torch.float64)
        right[f"m{i}"] = 0.02 * (1 + 0.1 * i) * v / v.norm()

    def delta(name: str, t: float) -> torch.Tensor:
        c, s = math.cos(omega * t), math.sin(omega * t)
        integral = torch.tensor(
            [(c - 1) / omega**2 + t * s / omega, s / omega**2 - t * c / omega], dtype=torch.float64
        )
        return torch.outer(plane @ integral / 10, right[name])

    return base, delta


def test_the_rotating_fixture_is_the_integral_it_claims() -> None:
    _, delta = _rotating_trajectory()
    plane_u = lambda tau: delta("m0", tau + 1e-4) - delta("m0", tau - 1e-4)  # noqa: E731
    grid = torch.linspace(0.0, 40.0, 4001, dtype=torch.float64)
    numeric = sum(plane_u(float(tau)) / 2e-4 for tau in grid) * (40 / 4001)
    torch.testing.assert_close(numeric, delta("m0", 40.0), rtol=2e-3, atol=1e-6)


def test_a_smoothly_evolving_rank1_trajectory_is_extrapolated_better_than_a_line() -> None:
    """Turning factors and an accelerating step: the last local delta carried 10 updates
    misses both; the predictors, trained on the observed pairs, follow them (seed 0: see the
    stationary test on seeds)."""
    base, delta = _rotating_trajectory()
    series = {name: [base[name] + delta(name, t) for t in STEPS] for name in base}
    params = NExtParams(interval=5, horizon=10, hidden=32, epochs=600, lr=3e-3, normalise=True, seed=0)
    updates = predicted_updates(list(base), base.__getitem__, series.__getitem__, STEPS, params)
    for name in base:
        truth = delta(name, 50) - delta(name, 40)
        line = 2 * (series[name][-1] - series[name][-2])
        error = float((updates[name] - truth).norm() / truth.norm())
        line_error = float((line - truth).norm() / truth.norm())
        assert error < 0.12 and error < 0.6 * line_error, (name, error, line_error)


def test_joint_predictor_learns_an_accelerating_rank1_pattern_better_than_a_line() -> None:
    """The harness's earlier predictor, kept as ``predictor: joint``, on ``g(t) = (t / 10)^2``."""
    generator = torch.Generator().manual_seed(2)
    g = lambda t: 1e-3 * (t / 10) ** 2  # noqa: E731
    base, directions = {}, {}
    for i in range(6):
        base[f"m{i}"] = torch.randn(8, 6, generator=generator, dtype=torch.float64)
        u = torch.randn(8, generator=generator, dtype=torch.float64)
        v = torch.randn(6, generator=generator, dtype=torch.float64)
        directions[f"m{i}"] = torch.outer(u / u.norm(), v / v.norm()) * (1 + 0.2 * i)
    series = {name: [base[name] + g(t) * directions[name] for t in STEPS] for name in base}
    params = NExtParams(
        interval=5,
        horizon=10,
        predictor="joint",
        align_signs=True,
        normalise=True,
        hidden=64,
        epochs=1500,
        lr=3e-3,
    )
    updates = predicted_updates(list(base), base.__getitem__, series.__getitem__, STEPS, params)
    for name in base:
        truth = (g(50) - g(40)) * directions[name]
        line = 2 * (series[name][-1] - series[name][-2])
        error = float((updates[name] - truth).norm() / truth.norm())
        assert error < 0.1 and error < 0.5 * float((line - truth).norm() / truth.norm()), (name, error)


# --- the driver -------------------------------------------------------------------------------


class ValidatingSession:
    """RL as a known path; validation accuracy falls with the distance to a known best state."""

    device = "cpu"

    def __init__(self, path: Callable[[float], State], recorded: list[int], best: State) -> None:
        self.path, self.recorded, self.best = path, recorded, best
        self.base_state = path(0)
        self.trajectory = SimpleNamespace(updates=recorded)
        self.trained: list[tuple[int, int]] = []

    def state_at(self, update: int) -> State:
        assert update in self.recorded, f"update {update} was not recorded"
        return self.path(update)

    def train(self, start: Mapping[str, torch.Tensor], updates: int, segment: int) -> State:
        self.trained.append((updates, segment))
        return dict(start)

    def validation_accuracy(self, state: Mapping[str, torch.Tensor]) -> float:
        return -sum(float((state[name] - self.best[name]).norm()) for name in self.best)


def _linear_path() -> Callable[[float], State]:
    generator = torch.Generator().manual_seed(0)
    w0 = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    direction = torch.randn(6, 5, generator=generator, dtype=torch.float64)
    frozen = torch.ones(3, dtype=torch.float64)
    return lambda t: {"layer.weight": w0 + 0.01 * t * direction, "frozen.norm": frozen}


def test_next_picks_the_coefficient_validation_prefers_then_continues_rl(monkeypatch) -> None:
    path = _linear_path()
    updates = {"layer.weight": path(10)["layer.weight"] - path(0)["layer.weight"]}
    monkeypatch.setattr(
        "peft_rlvr_bench.extrapolation.next.predicted_updates", lambda *args, **kwargs: updates
    )
    monkeypatch.setattr(
        "peft_rlvr_bench.trajectory.effective_weight_names", lambda trajectory: ["layer.weight"]
    )
    session = ValidatingSession(path, recorded=[0, 20, 40], best=path(70))
    params = NExtParams(coefs=[0.5, 1.0, 3.0, 4.0], continue_steps=15)
    outcome = NExt().run(session, observe=40, target=100, params=params)
    assert outcome.details["coef"] == 3.0  # 40 + 3 * 10 lands on the best state, update 70
    assert session.trained == [(15, 1)]
    assert outcome.updates_used == 55
    torch.testing.assert_close(outcome.state["layer.weight"], extend(path(40), updates, 3.0)["layer.weight"])


@pytest.mark.parametrize(
    ("untouched", "names"), [("predict", ["layer.weight", "frozen.norm"]), ("keep", ["layer.weight"])]
)
def test_next_hands_every_model_tensor_to_the_predictor_unless_told_to_keep_untouched_ones(
    monkeypatch, untouched: str, names: list[str]
) -> None:
    path = _linear_path()
    seen: dict[str, list[torch.Tensor]] = {}

    def capture(names, base_of, series_of, steps, params, device):
        seen.update({name: list(series_of(name)) for name in names})
        return {}

    monkeypatch.setattr("peft_rlvr_bench.extrapolation.next.predicted_updates", capture)
    monkeypatch.setattr(
        "peft_rlvr_bench.trajectory.effective_weight_names", lambda trajectory: ["layer.weight"]
    )
    monkeypatch.setattr(
        "peft_rlvr_bench.trajectory.effective_series",
        lambda trajectory, base, name: [(t, path(t)[name]) for t in trajectory.updates],
    )
    session = ValidatingSession(path, recorded=[0, 20, 40], best=path(40))
    NExt().run(session, observe=40, target=100, params=NExtParams(coefs=[1.0], untouched=untouched))
    assert list(seen) == names
    if untouched == "predict":
        assert len(seen["frozen.norm"]) == 3 and all(w is path(0)["frozen.norm"] for w in seen["frozen.norm"])


def test_next_validates_its_windows_against_the_recording_interval() -> None:
    with pytest.raises(ValueError, match="at least interval \\+ horizon"):
        NExt().validate(observe=40, target=100, every=5, params=NExtParams(interval=10, horizon=50))
    with pytest.raises(ValueError, match="horizon \\(12\\) must be a multiple"):
        NExt().validate(observe=40, target=100, every=5, params=NExtParams(interval=5, horizon=12))
