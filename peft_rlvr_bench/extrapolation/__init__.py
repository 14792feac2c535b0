"""Extrapolators: a recorded weight trajectory -> the predicted weights at a later step.

Each method's definition, options and departures from its paper: ``docs/methods.md``.

The contract is per tensor, so a caller can stream a model of any size one tensor at a time and
never holds more than one tensor's trajectory: ``predict(name, base, steps, weights, target,
params)`` gets the original base ``W0`` of one tensor and that tensor at each recorded step, and
returns its prediction at ``target``. ``extrapolate_state`` drives it over a whole state dict.

Time is counted in optimizer updates (``steps``), never checkpoint indices, and every delta is
taken against the original ``W0``, never a PiSSA-style residual. Implementations compute in
float64 and return the base's dtype and device. Like the adapters, these modules import torch
only inside functions, so ``prb validate`` can read an extrapolator's ``Params`` without it.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import ConfigDict

from peft_rlvr_bench.schema import InputModel

if TYPE_CHECKING:
    from torch import Tensor

    from peft_rlvr_bench.trajectory import Trajectory


class ExtrapolatorParams(InputModel):
    """Parameters every extrapolator shares (none yet); each extrapolator extends this."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Extrapolator(Protocol):
    """A method that predicts a tensor at a target step from its recorded trajectory."""

    Params: ClassVar[type[ExtrapolatorParams]]
    drives_training: ClassVar[bool]
    """False: a pure function of the records (``TrainingDrivenExtrapolator`` is the other kind)."""

    def validate(self, steps: Sequence[int], target: int, params: Any) -> None:
        """Raises ``ValueError`` when ``steps``/``target`` cannot work with ``params``, before any
        tensor is loaded (too few checkpoints, a rank above the number of trajectory rows, ...)."""
        ...

    def predict(
        self,
        name: str,
        base: Tensor,
        steps: Sequence[int],
        weights: Sequence[Tensor],
        target: int,
        params: Any,
    ) -> Tensor:
        """The tensor ``name`` at step ``target``.

        ``base`` is ``W0``; ``weights[i]`` is the effective tensor after ``steps[i]`` optimizer
        updates (same shape as ``base``; ``steps`` strictly ascending, with or without 0). The
        result has ``base``'s shape, dtype and device. ``target`` may lie beyond the last step
        (extrapolation) or inside the recorded range (interpolation).
        """
        ...


def is_norm_or_bias(name: str, tensor: Tensor) -> bool:
    """A 1-D tensor: a norm weight or a bias (linear and alpharl treat these apart)."""
    return tensor.ndim == 1


def check_steps(steps: Sequence[int], target: int, *, method: str, min_points: int) -> list[int]:
    """The steps as plain ints, after checking they are usable; raises ``ValueError`` otherwise.

    Steps are optimizer-update counts: non-negative integers, strictly ascending (a repeated
    step would make the fits singular). ``target`` may be anywhere >= 0.
    """
    checked = [_as_step(step, "steps") for step in steps]
    _as_step(target, "target")
    if len(checked) < min_points:
        raise ValueError(
            f"{method} needs at least {min_points} recorded checkpoints, got {len(checked)} (steps={checked})"
        )
    for before, after in itertools.pairwise(checked):
        if after <= before:
            raise ValueError(f"steps must be strictly ascending optimizer-update counts, got {checked}")
    return checked


def check_trajectory(name: str, base: Tensor, steps: Sequence[int], weights: Sequence[Tensor]) -> None:
    """One weight per step, each shaped like the base; raises ``ValueError`` naming the tensor."""
    if len(weights) != len(steps):
        raise ValueError(f"{name}: got {len(weights)} weights for {len(steps)} steps; pass one per step")
    for step, weight in zip(steps, weights, strict=True):
        if weight.shape != base.shape:
            raise ValueError(
                f"{name}: weight at step {step} has shape {tuple(weight.shape)}, "
                f"but the base has shape {tuple(base.shape)}"
            )


def observed_window(steps: Sequence[int], window: int | None) -> list[int]:
    """Indices into ``steps`` of the checkpoints a trajectory fit uses: the last ``window`` with
    step > 0 (all of them when ``window`` is None).

    A checkpoint at step 0 is the base itself, whose delta is zero: it observes nothing about the
    RL update (and its singular vectors are undefined), so it never counts as an observation.
    """
    kept = [i for i, step in enumerate(steps) if step > 0]
    return kept if window is None else kept[-window:]


def polyfit_at(steps: Sequence[int], values: Tensor, degree: int, target: int) -> Tensor:
    """Least-squares polynomial of ``degree`` through ``values[i]`` at ``steps[i]``, evaluated at
    ``target``; ``values`` is [n] or [n, m] (one fit per column), the result is [] or [m], float64.

    Steps are mapped to [-1, 1] first, so the Vandermonde matrix stays well conditioned when
    steps are in the thousands and the target is 20x further.
    """
    import torch

    if len(steps) < degree + 1:
        raise ValueError(f"a degree-{degree} fit needs at least {degree + 1} steps, got {len(steps)}")
    x = torch.tensor(steps, dtype=torch.float64, device=values.device)
    centre = (x.max() + x.min()) / 2
    half_range = ((x.max() - x.min()) / 2).clamp_min(1.0)
    powers = torch.arange(degree + 1, dtype=torch.float64, device=values.device)
    vander = ((x - centre) / half_range).unsqueeze(1) ** powers
    at_target = ((target - centre) / half_range) ** powers
    y = values.to(torch.float64)
    coefficients = torch.linalg.lstsq(vander, y.unsqueeze(1) if y.ndim == 1 else y).solution
    prediction = at_target @ coefficients
    return prediction.squeeze(0) if y.ndim == 1 else prediction


def extrapolate_state(
    extrapolator: Extrapolator,
    params: ExtrapolatorParams,
    names: Iterable[str],
    base_of: Callable[[str], Tensor],
    trajectory_of: Callable[[str], Sequence[Tensor]],
    steps: Sequence[int],
    target: int,
) -> Iterator[tuple[str, Tensor]]:
    """Yields ``(name, predicted tensor)`` for each name, loading one tensor's trajectory at a time.

    ``base_of(name)`` returns ``W0`` for that name and ``trajectory_of(name)`` its tensor at each of
    ``steps``; each is called once per name, just before that name's prediction, so peak memory
    is one tensor's trajectory. ``steps`` and ``target`` are checked before anything is loaded.
    """
    extrapolator.validate(steps, target, params)
    for name in names:
        base = base_of(name)
        yield name, extrapolator.predict(name, base, steps, trajectory_of(name), target, params)


def _as_step(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be optimizer-update counts (integers), got {value!r}")
    try:
        step = operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be optimizer-update counts (integers), got {value!r}") from None
    if step < 0:
        raise ValueError(f"{what} must be non-negative optimizer-update counts, got {step}")
    return step


class TrainingSession(Protocol):
    """What the runner offers a method that alternates prediction with more RL (regrounding, NExt).

    ``trajectory`` is the source run's trajectory, observed up to the method's window; states are
    whole-model effective weights (base parameter names), always measured against the original
    ``W0`` in ``base_state``.
    """

    base_state: Mapping[str, Tensor]
    trajectory: Trajectory
    device: str
    """Where the method runs its own computations (NExt's predictors)."""

    def state_at(self, update: int) -> dict[str, Tensor]:
        """The source run's effective weights after ``update`` recorded updates."""
        ...

    def train(self, start: Mapping[str, Tensor], updates: int, segment: int) -> dict[str, Tensor]:
        """``updates`` more real RL updates from ``start`` with the source's adapter and recipe
        applied afresh (new optimizer state, prompts drawn for ``segment``); the merged weights."""
        ...

    def validation_accuracy(self, state: Mapping[str, Tensor]) -> float:
        """Greedy accuracy of ``state`` on held-in validation items of the training task (never
        the eval items, so choosing by it leaks nothing into the leaderboard)."""
        ...


@dataclass(frozen=True)
class DrivenOutcome:
    """A driven method's final weights and what they cost."""

    state: dict[str, Tensor]
    updates_used: int
    """Real RL updates: the observed ones plus every update trained after them."""
    details: dict[str, Any] = field(default_factory=dict)
    """Method-specific figures kept in the result (the chosen coefficient, the segment plan)."""


class TrainingDrivenExtrapolator(Protocol):
    """A method that needs more RL between predictions: the runner gives it a ``TrainingSession``.

    Marked by ``drives_training = True``; ``validate`` runs when the suite loads, before any work.
    """

    Params: ClassVar[type[ExtrapolatorParams]]
    drives_training: ClassVar[bool]

    def validate(self, observe: int, target: int, every: int, params: Any) -> None:
        """Raises ``ValueError`` when the window, target and recording interval cannot work."""
        ...

    def validation_items(self, params: Any) -> int:
        """Training-task items behind ``TrainingSession.validation_accuracy``."""
        ...

    def run(self, session: TrainingSession, observe: int, target: int, params: Any) -> DrivenOutcome: ...


VALIDATION_ITEMS = 200
"""Validation items a training-driven method gets unless its parameters say otherwise."""
