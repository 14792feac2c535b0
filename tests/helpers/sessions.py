"""A training session whose RL is a known function, for methods that alternate prediction with
more RL (regrounding, NExt): their bookkeeping of real and virtual updates is checkable exactly."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import SimpleNamespace

import torch

State = dict[str, torch.Tensor]


class FakeSession:
    """RL as a known path ``W(t) = path(t)``: training from any state moves it by the path's
    increments, so a method's bookkeeping of real and virtual updates is checkable exactly.

    ``accuracy`` scores a state for methods that choose on validation items (NExt); without it a
    validation call fails the test (regrounding must never validate).
    """

    def __init__(
        self,
        path: Callable[[float], State],
        recorded: list[int],
        velocity: Callable[[int], State] | None = None,
        accuracy: Callable[[Mapping[str, torch.Tensor]], float] | None = None,
    ) -> None:
        self.path = path
        self.base_state = path(0)
        self.recorded = recorded
        self.velocity = velocity
        self.accuracy = accuracy
        self.trained: list[tuple[int, int]] = []
        self.trajectory = SimpleNamespace(updates=list(recorded))  # what NExt reads of it
        self.device = "cpu"

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
        if self.accuracy is None:
            raise AssertionError("regrounding never validates")
        return self.accuracy(state)


def linear_path(rate: float = 0.01) -> tuple[Callable[[float], State], Callable[[int], State]]:
    """``W(t) = W0 + rate t D`` for one 6x5 float64 tensor, and the move of ``updates`` updates."""
    generator = torch.Generator().manual_seed(0)
    w0 = {"layer.weight": torch.randn(6, 5, generator=generator, dtype=torch.float64)}
    direction = {"layer.weight": torch.randn(6, 5, generator=generator, dtype=torch.float64)}

    def path(t: float) -> State:
        return {name: w0[name] + rate * t * direction[name] for name in w0}

    def velocity(updates: int) -> State:
        return {name: rate * updates * direction[name] for name in w0}

    return path, velocity
