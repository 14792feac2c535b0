"""Regrounding and NExt: methods that alternate prediction with more RL.

The runner's side (real TRL segments) is exercised end to end by the smoke suite; here a fake
session makes RL a known function, so each method's arithmetic can be checked exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.extrapolation import drives_training
from peft_rlvr_bench.extrapolation.checkpoints import extrapolate_checkpoints
from peft_rlvr_bench.extrapolation.next import (
    NExt,
    NExtParams,
    extend,
    factor_vector,
    outer_of,
    pair_steps,
    predicted_updates,
)
from peft_rlvr_bench.extrapolation.regrounding import (
    Regrounding,
    RegroundingParams,
    jump_state,
    segment_plan,
)
from peft_rlvr_bench.registry import EXTRAPOLATORS
from peft_rlvr_bench.suite import load_suite

State = dict[str, torch.Tensor]


class FakeSession:
    """RL as a known path ``W(t) = path(t)``: training from any state moves it by the path's
    increments, so a method's bookkeeping of real and virtual updates is checkable exactly."""

    def __init__(
        self,
        path: Callable[[float], State],
        recorded: list[int],
        velocity: Callable[[int], State] | None = None,
    ) -> None:
        self.path = path
        self.base_state = path(0)
        self.recorded = recorded
        self.velocity = velocity
        self.trained: list[tuple[int, int]] = []
        self.trajectory = None

    def state_at(self, update: int) -> State:
        assert update in self.recorded, f"update {update} was not recorded"
        return self.path(update)

    def train(self, start: Mapping[str, torch.Tensor], updates: int, segment: int) -> State:
        self.trained.append((updates, segment))
        step = (
            self.velocity(updates)
            if self.velocity
            else {name: torch.zeros_like(t) for name, t in start.items()}
        )
        return {name: start[name] + step[name] for name in start}

    def validation_accuracy(self, state: Mapping[str, torch.Tensor]) -> float:
        raise AssertionError("regrounding never validates")


def linear_path(rate: float = 0.01) -> tuple[Callable[[float], State], Callable[[int], State]]:
    generator = torch.Generator().manual_seed(0)
    w0 = {"layer.weight": torch.randn(6, 5, generator=generator, dtype=torch.float64)}
    direction = {"layer.weight": torch.randn(6, 5, generator=generator, dtype=torch.float64)}

    def path(t: float) -> State:
        return {name: w0[name] + rate * t * direction[name] for name in w0}

    def velocity(updates: int) -> State:
        return {name: rate * updates * direction[name] for name in w0}

    return path, velocity


# --- regrounding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "jump", "target", "expected"),
    [
        (10, 10, 100, [("train", 10), ("jump", 10)] * 5),
        (10, 20, 45, [("train", 10), ("jump", 20), ("train", 10), ("jump", 5)]),
        (20, 100, 50, [("train", 20), ("jump", 30)]),
        (30, 10, 25, [("train", 25)]),
    ],
)
def test_segment_plan_alternates_and_stops_exactly_at_the_target(real, jump, target, expected) -> None:
    plan = segment_plan(real, jump, target)
    assert plan == expected
    assert sum(length for _, length in plan) == target


def test_a_jump_is_the_two_point_line_and_copies_norms_from_the_segment_end() -> None:
    start = {"w": torch.tensor([[1.0, 2.0]]), "norm": torch.tensor([1.0, 1.0]), "frozen": torch.ones(2, 2)}
    end = {"w": torch.tensor([[2.0, 1.0]]), "norm": torch.tensor([1.5, 0.5]), "frozen": start["frozen"]}
    jumped = jump_state(start, end, real=10, jump=20)
    torch.testing.assert_close(jumped["w"], torch.tensor([[4.0, -1.0]]))  # end + 2 * (end - start)
    torch.testing.assert_close(jumped["norm"], end["norm"])
    assert jumped["frozen"] is end["frozen"]


def test_regrounding_follows_a_linear_path_exactly_and_counts_only_real_updates() -> None:
    path, velocity = linear_path()
    session = FakeSession(path, recorded=[0, 10], velocity=velocity)
    outcome = Regrounding().run(session, observe=10, target=100, params=RegroundingParams(jump=20))
    torch.testing.assert_close(outcome.state["layer.weight"], path(100)["layer.weight"])
    # train 10 (the source's), jump 20, then three trained segments of 10 with jumps between.
    assert session.trained == [(10, 2), (10, 4), (10, 6)]
    assert outcome.updates_used == 40
    assert outcome.details["plan"][:3] == [["train", 10], ["jump", 20], ["train", 10]]


def test_regrounding_without_real_progress_does_not_drift() -> None:
    """When segments learn nothing, a jump from a segment's start to its end moves nothing: the
    jump re-grounds on the segment just trained, not on the source's first direction."""
    path, _ = linear_path()
    session = FakeSession(path, recorded=[0, 10])
    outcome = Regrounding().run(session, observe=10, target=60, params=RegroundingParams(jump=10))
    # first jump extends the source's 10 updates by 10; later segments and jumps stay there.
    torch.testing.assert_close(outcome.state["layer.weight"], path(20)["layer.weight"])


def test_regrounding_needs_its_first_segment_recorded() -> None:
    with pytest.raises(ValueError, match=r"multiple of trajectory\.every"):
        Regrounding().validate(observe=12, target=100, every=5, params=RegroundingParams(jump=10))


# --- NExt -------------------------------------------------------------------------------------


def test_factor_vectors_rebuild_a_rank1_matrix_and_align_signs() -> None:
    generator = torch.Generator().manual_seed(1)
    u, v = (
        torch.randn(7, generator=generator, dtype=torch.float64),
        torch.randn(4, generator=generator, dtype=torch.float64),
    )
    delta = 0.3 * torch.outer(u, v)
    vector = factor_vector(delta, v_ref=v)
    torch.testing.assert_close(outer_of(vector, 7), delta)
    assert float(vector[7:] @ v) > 0
    assert float(factor_vector(delta, v_ref=-v)[7:] @ v) < 0


def test_pair_steps_need_the_local_start_and_the_future_recorded() -> None:
    assert pair_steps([0, 5, 10, 15, 20, 25, 30], interval=5, horizon=10) == [5, 10, 15, 20]
    assert pair_steps([0, 10, 20], interval=5, horizon=10) == []


def _trajectory(
    coefficient: Callable[[int], float], n_tensors: int = 6
) -> tuple[State, dict[str, list[torch.Tensor]], dict[str, torch.Tensor]]:
    """Tensors of one shape moving along fixed rank-1 directions, ``W_t = W0 + g(t) u v^T``, plus a
    norm vector moving linearly."""
    generator = torch.Generator().manual_seed(2)
    base, directions = {}, {}
    for i in range(n_tensors):
        name = f"layers.{i}.proj.weight"
        base[name] = torch.randn(8, 6, generator=generator, dtype=torch.float64)
        u = torch.randn(8, generator=generator, dtype=torch.float64)
        v = torch.randn(6, generator=generator, dtype=torch.float64)
        directions[name] = torch.outer(u / u.norm(), v / v.norm()) * (1 + 0.2 * i)
    base["norm.weight"] = torch.ones(6, dtype=torch.float64)
    directions["norm.weight"] = torch.linspace(-1, 1, 6, dtype=torch.float64)
    return base, directions, {}


def _series(
    base: State, directions: State, g: Callable[[int], float], steps: list[int]
) -> dict[str, list[torch.Tensor]]:
    return {name: [base[name] + g(t) * directions[name] for t in steps] for name in base}


def _nexp_params(**overrides) -> NExtParams:
    fields = {"interval": 5, "horizon": 10, "hidden": 64, "epochs": 1500, "lr": 3e-3, "coefs": [1.0]}
    return NExtParams(**{**fields, **overrides})


def test_next_learns_an_accelerating_rank1_pattern_better_than_a_straight_line() -> None:
    """On ``g(t) = (t / 10)^2`` the future delta grows with t: a line through the last two records
    undershoots it, the predictor learns the growth from the earlier pairs."""
    steps = list(range(0, 45, 5))
    g = lambda t: 1e-3 * (t / 10) ** 2  # noqa: E731
    base, directions, _ = _trajectory(g)
    series = _series(base, directions, g, steps)
    updates = predicted_updates(list(base), base.__getitem__, series.__getitem__, steps, _nexp_params())

    last, ahead = steps[-1], steps[-1] + 10
    next_errors, line_errors = [], []
    for name in base:
        if name == "norm.weight":
            continue
        truth = (g(ahead) - g(last)) * directions[name]
        line = 2 * (series[name][-1] - series[name][-2])  # the last local delta carried 10 updates
        next_errors.append(float((updates[name] - truth).norm() / truth.norm()))
        line_errors.append(float((line - truth).norm() / truth.norm()))
    assert max(next_errors) < 0.1, next_errors
    assert max(next_errors) < 0.5 * min(line_errors), (next_errors, line_errors)


def test_next_carries_1d_tensors_linearly_and_skips_untouched_ones() -> None:
    steps = list(range(0, 45, 5))
    g = lambda t: 1e-3 * t  # noqa: E731
    base, directions, _ = _trajectory(g)
    series = _series(base, directions, g, steps)
    series["frozen.weight"] = [torch.ones(3, 3, dtype=torch.float64)] * len(steps)
    base["frozen.weight"] = torch.ones(3, 3, dtype=torch.float64)
    updates = predicted_updates(
        list(base), base.__getitem__, series.__getitem__, steps, _nexp_params(epochs=10)
    )
    torch.testing.assert_close(updates["norm.weight"], g(10) * directions["norm.weight"])
    assert "frozen.weight" not in updates


class ValidatingSession(FakeSession):
    """Validation accuracy falls with the distance to a known best state."""

    def __init__(self, path, recorded, best: State) -> None:
        super().__init__(path, recorded)
        self.best = best

    def validation_accuracy(self, state: Mapping[str, torch.Tensor]) -> float:
        return -sum(float((state[name] - self.best[name]).norm()) for name in self.best)


def test_next_picks_the_coefficient_validation_prefers_then_continues_rl(monkeypatch) -> None:
    path, _ = linear_path()
    updates = {"layer.weight": path(10)["layer.weight"] - path(0)["layer.weight"]}
    monkeypatch.setattr("peft_rlvr_bench.extrapolation.next.predicted_updates", lambda *args: updates)
    monkeypatch.setattr(
        "peft_rlvr_bench.trajectory.effective_weight_names", lambda trajectory: ["layer.weight"]
    )
    session = ValidatingSession(path, recorded=[0, 20, 40], best=path(70))

    session.trajectory = SimpleNamespace(updates=[0, 20, 40])
    params = NExtParams(coefs=[0.5, 1.0, 3.0, 4.0], continue_steps=15)
    outcome = NExt().run(session, observe=40, target=100, params=params)
    assert outcome.details["coef"] == 3.0  # 40 + 3 * 10 lands on the best state, update 70
    assert session.trained == [(15, 1)]
    assert outcome.updates_used == 55
    torch.testing.assert_close(outcome.state["layer.weight"], extend(path(40), updates, 3.0)["layer.weight"])


def test_next_validates_its_windows_against_the_recording_interval() -> None:
    with pytest.raises(ValueError, match="at least interval \\+ horizon"):
        NExt().validate(observe=40, target=100, every=5, params=NExtParams(interval=10, horizon=50))
    with pytest.raises(ValueError, match="horizon \\(12\\) must be a multiple"):
        NExt().validate(observe=40, target=100, every=5, params=NExtParams(interval=5, horizon=12))


# --- suites and the CLI -----------------------------------------------------------------------


def test_driven_methods_are_marked_and_pure_ones_are_not() -> None:
    assert drives_training(EXTRAPOLATORS.get("regrounding")) and drives_training(EXTRAPOLATORS.get("next"))
    assert not any(drives_training(EXTRAPOLATORS.get(name)) for name in ("linear", "relex", "alpharl"))


def test_a_suite_with_a_window_off_the_recording_grid_is_one_line_error(tmp_path: Path) -> None:
    text = (Path("suites") / "smoke.yaml").read_text()
    text = text.replace("every: 1 ", "every: 2 ").replace(
        "  - {name: relex, observe: 2, target: 3}", "  - {name: regrounding, observe: 3, target: 6, jump: 1}"
    )
    text = text.replace("max_steps: 3", "max_steps: 6")
    suite = tmp_path / "bad.yaml"
    suite.write_text(text)
    with pytest.raises(UserError, match=r"bad.yaml:\d+: extrapolation.0: observe \(3\) must be a multiple"):
        load_suite(suite)


def test_prb_extrapolate_refuses_methods_that_need_training(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="use it in a suite"):
        extrapolate_checkpoints("next", {}, tmp_path, {1: tmp_path}, 5, tmp_path / "out")
