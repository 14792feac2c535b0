"""NExt: a learned, nonlinear step along rank-1 factors, then more RL (arXiv 2604.11446).

Computed as the authors' public code does (github.com/RUCAIBox/NExt: ``src/compute_global_delta.py``,
``src/compute_local_delta.py``, ``src/compute_target_delta.py``, ``src/train.py``,
``src/extrapolate.py`` with the settings of ``scripts/run_train.sh`` and
``scripts/run_extrapolate.sh``); ``docs/methods.md`` ("NExt") lists every option and departure.

- **Checkpoints** every ``interval`` updates (the authors save every 10). At each checkpoint
  ``t`` every tensor has a *global* delta ``W_t - W0``, a *local* delta ``W_t - W_{t-interval}``
  and, where ``t + horizon`` was observed, a *target* delta ``W_{t+horizon} - W_t`` (horizon 50).
- **Features**: a matrix delta is cut into its top singular triple, a 1-D delta is kept whole
  (``next_features``); the pieces of one kind and length from every tensor share one predictor
  (``next_predictor``), trained on every checkpoint with a target (L1, AdamW at 2e-5 on a cosine
  schedule, 1000 full-batch epochs).
- **Extension**: at the last observed checkpoint ``T`` the predictors give each tensor's future
  delta ``sigma u v^T`` (``u``, ``v`` re-normalised; a 1-D tensor's vector as predicted), and the
  model becomes ``W_T + coef * delta`` for every tensor, coefficients 0.5 to 4 in steps of 0.5.
  The code writes one model per coefficient; the harness picks one on validation items of the
  training task (never the eval items), then RL continues for ``continue_steps`` updates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from peft_rlvr_bench.extrapolation import DrivenOutcome, ExtrapolatorParams, TrainingSession
from peft_rlvr_bench.extrapolation.next_features import (
    PieceKey,
    Pieces,
    as_matrix,
    joint_delta,
    joint_pieces,
    separate_delta,
    separate_pieces,
    top_triple,
)
from peft_rlvr_bench.registry import register_extrapolator

if TYPE_CHECKING:
    from torch import Size, Tensor

AUTHORS_COEFS = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
"""``--min_coef 0.5 --max_coef 4.0 --inter_coef 0.5`` in ``scripts/run_extrapolate.sh``."""


class NExtParams(ExtrapolatorParams):
    interval: int = Field(
        10,
        gt=0,
        description="updates between the predictor's checkpoints = a local delta's span (the authors: 10)",
    )
    horizon: int = Field(
        50, gt=0, description="updates ahead whose delta the predictor learns (the authors: 50)"
    )
    coefs: list[float] = Field(
        default_factory=lambda: list(AUTHORS_COEFS),
        min_length=1,
        description="extension coefficients tried on validation (the authors: 0.5 to 4 in steps of 0.5)",
    )
    continue_steps: int = Field(0, ge=0, description="real RL updates after the extension")
    predictor: Literal["separate", "joint"] = Field(
        "separate",
        description=(
            "separate: the authors' predictors of u, sigma and v, shared by length; "
            "joint: one GELU MLP per matrix shape on [sqrt(sigma) u, sqrt(sigma) v]"
        ),
    )
    hidden: int = Field(256, gt=0, description="the predictor's hidden width (the authors: 256)")
    epochs: int = Field(
        1000, gt=0, description="full-batch AdamW steps of each predictor (the authors: 1000)"
    )
    lr: float = Field(
        2e-5, gt=0, description="the predictor's peak AdamW rate, cosine down to a tenth (the authors: 2e-5)"
    )
    vectors: Literal["predict", "linear"] = Field(
        "predict",
        description=(
            "1-D tensors: predict (the authors: the predictor of their length) or "
            "linear ((horizon / interval) times the last local delta)"
        ),
    )
    untouched: Literal["predict", "keep"] = Field(
        "predict",
        description="tensors the run never changed: predict (the authors: every tensor) or keep them at W0",
    )
    align_signs: bool = Field(
        False,
        description=(
            "flip each singular pair so v points along the last global delta's v "
            "(the authors: LAPACK's arbitrary signs)"
        ),
    )
    normalise: bool = Field(
        False,
        description="divide each predictor's inputs and targets by their mean |value| (the authors: raw)",
    )
    validation_items: int = Field(200, gt=0, description="training-task items that choose the coefficient")
    seed: int = Field(0, description="seeds the predictors' initialisation")


def pair_steps(steps: Sequence[int], interval: int, horizon: int) -> list[int]:
    """The checkpoints the predictor trains on: recorded multiples ``t`` of ``interval`` whose
    ``t - interval`` and ``t + horizon`` were recorded too."""
    recorded = set(steps)
    return [
        t
        for t in steps
        if t >= interval and t % interval == 0 and t - interval in recorded and t + horizon in recorded
    ]


@dataclass
class _Group:
    """The rows of one predictor: per member tensor, its samples and its query at ``T``."""

    members: list[str] = field(default_factory=list)
    global_rows: list[Tensor] = field(default_factory=list)
    local_rows: list[Tensor] = field(default_factory=list)
    target_rows: list[Tensor] = field(default_factory=list)
    query_global: list[Tensor] = field(default_factory=list)
    query_local: list[Tensor] = field(default_factory=list)


def predicted_updates(
    names: Iterable[str],
    base_of: Callable[[str], Tensor],
    series_of: Callable[[str], Sequence[Tensor]],
    steps: Sequence[int],
    params: NExtParams,
    device: str = "cpu",
) -> dict[str, Tensor]:
    """The predicted delta ``W_{T+horizon} - W_T`` of every tensor it covers, ``T = steps[-1]``.

    ``series_of(name)`` gives the tensor at each of ``steps``; it is read once per name, and only
    the pieces are kept, so memory is one tensor's trajectory plus small vectors. Predictors are
    trained on ``device``.
    """
    import torch

    from peft_rlvr_bench.extrapolation.next_predictor import train_and_predict

    steps = list(steps)
    index = {step: i for i, step in enumerate(steps)}
    last = steps[-1]
    pairs = pair_steps(steps, params.interval, params.horizon)
    if not pairs or last - params.interval not in index:
        raise ValueError(
            f"next needs records at t - {params.interval}, t and t + {params.horizon} for some multiple t "
            f"of {params.interval}, and at {last - params.interval}; recorded updates: {steps}"
        )
    updates: dict[str, Tensor] = {}
    shapes: dict[str, Size] = {}
    groups: dict[PieceKey, _Group] = {}
    for name in names:
        # An untouched tensor's series repeats W0 itself: convert each distinct tensor once.
        raw = [base_of(name), *series_of(name)]
        converted: dict[int, Tensor] = {}
        for weight in raw:
            if id(weight) not in converted:
                converted[id(weight)] = weight.to(torch.float64)
        w0, *series = (converted[id(weight)] for weight in raw)
        if params.untouched == "keep" and bool((series[-1] == w0).all()):
            continue
        if w0.ndim == 1 and params.vectors == "linear":
            local = series[-1] - series[index[last - params.interval]]
            updates[name] = (params.horizon / params.interval) * local
            continue
        shapes[name] = w0.shape
        for key, rows in _samples(w0, series, index, pairs, params).items():
            group = groups.setdefault(key, _Group())
            group.members.append(name)
            for column, value in zip(
                (
                    group.global_rows,
                    group.local_rows,
                    group.target_rows,
                    group.query_global,
                    group.query_local,
                ),
                rows,
                strict=True,
            ):
                column.append(value)
    predicted: dict[str, Pieces] = {}
    for key, group in sorted(groups.items()):
        out = train_and_predict(
            params.predictor,
            (torch.cat(group.global_rows), torch.cat(group.local_rows), torch.cat(group.target_rows)),
            (torch.stack(group.query_global), torch.stack(group.query_local)),
            len(pairs),
            width=params.hidden,
            epochs=params.epochs,
            lr=params.lr,
            seed=params.seed,
            normalise=params.normalise,
            device=device,
        )
        for name, row in zip(group.members, out, strict=True):
            predicted.setdefault(name, {})[key] = row
    rebuild = separate_delta if params.predictor == "separate" else joint_delta
    for name, pieces in predicted.items():
        updates[name] = rebuild(shapes[name], pieces)
    broken = [name for name, update in updates.items() if not bool(torch.isfinite(update).all())]
    if broken:
        raise ValueError(f"next predicted non-finite updates for {len(broken)} tensor(s), e.g. {broken[0]}")
    return updates


def _samples(
    w0: Tensor, series: Sequence[Tensor], index: Mapping[int, int], pairs: Sequence[int], params: NExtParams
) -> dict[PieceKey, tuple[Tensor, Tensor, Tensor, Tensor, Tensor]]:
    """Per piece key of one tensor: global, local and target rows at the pair checkpoints
    (``[len(pairs), d]`` each), then the global and local query at the last step (``[d]``)."""
    import torch

    v_ref = top_triple(as_matrix(series[-1] - w0))[2] if params.align_signs and w0.ndim > 1 else None
    split = separate_pieces if params.predictor == "separate" else joint_pieces

    def pieces_of(delta: Tensor) -> Pieces:
        return split(delta, v_ref)

    def at(t: int) -> Tensor:
        return series[index[t]]

    def features(t: int) -> tuple[Pieces, Pieces]:
        return pieces_of(at(t) - w0), pieces_of(at(t) - at(t - params.interval))

    inputs = [features(t) for t in pairs]
    targets = [pieces_of(at(t + params.horizon) - at(t)) for t in pairs]
    query_global, query_local = features(max(index))
    return {
        key: (
            torch.stack([g[key] for g, _ in inputs]),
            torch.stack([local[key] for _, local in inputs]),
            torch.stack([y[key] for y in targets]),
            query_global[key],
            query_local[key],
        )
        for key in query_global
    }


def extend(state: Mapping[str, Tensor], updates: Mapping[str, Tensor], coef: float) -> dict[str, Tensor]:
    """``W_T + coef * update`` for every tensor with an update, the rest of ``state`` as it is."""
    extended = dict(state)
    for name, update in updates.items():
        weight = state[name]
        extended[name] = (weight.to(update.dtype) + coef * update.to(weight.device)).to(weight.dtype)
    return extended


@register_extrapolator("next")
class NExt:
    Params: ClassVar[type[ExtrapolatorParams]] = NExtParams
    drives_training: ClassVar[bool] = True

    def validation_items(self, params: NExtParams) -> int:
        return params.validation_items

    def validate(self, observe: int, target: int, every: int, params: NExtParams) -> None:
        windows = {"observe": observe, "interval": params.interval, "horizon": params.horizon}
        for field_name, value in windows.items():
            if value % every:
                raise ValueError(
                    f"{field_name} ({value}) must be a multiple of trajectory.every ({every}) "
                    "so its records exist"
                )
        if observe < params.interval + params.horizon:
            raise ValueError(
                f"observe ({observe}) must be at least interval + horizon "
                f"({params.interval} + {params.horizon}) so the predictor has a training pair"
            )

    def run(self, session: TrainingSession, observe: int, target: int, params: NExtParams) -> DrivenOutcome:
        from peft_rlvr_bench.trajectory import effective_series, effective_weight_names

        trajectory = session.trajectory
        touched = effective_weight_names(trajectory)
        names = list(session.base_state) if params.untouched == "predict" else touched
        touched_set = set(touched)
        steps = trajectory.updates

        def series_of(name: str) -> list[Tensor]:
            if name not in touched_set:  # outside the adapter: W0 at every step
                return [session.base_state[name]] * len(steps)
            return [w for _, w in effective_series(trajectory, session.base_state, name)]

        updates = predicted_updates(
            names, session.base_state.__getitem__, series_of, steps, params, device=session.device
        )
        observed = session.state_at(observe)
        validation = {0.0: session.validation_accuracy(observed)}
        for coef in params.coefs:
            validation[coef] = session.validation_accuracy(extend(observed, updates, coef))
        best = max(params.coefs, key=lambda coef: (validation[coef], -coef))  # ties: the smaller step
        state = extend(observed, updates, best)
        if params.continue_steps:
            state = session.train(state, params.continue_steps, segment=1)
        details: dict[str, Any] = {"coef": best, "validation": {str(k): v for k, v in validation.items()}}
        return DrivenOutcome(state=state, updates_used=observe + params.continue_steps, details=details)
