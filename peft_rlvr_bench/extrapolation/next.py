"""NExt: a learned, nonlinear step along rank-1 factors, then more RL (METHODS.md §2, arXiv 2604.11446).

Per touched matrix and recorded update ``t``, the *global* delta ``W_t - W0`` and the *local*
delta ``W_t - W_{t-interval}`` are each compressed to their top singular triple. A small MLP per
tensor shape learns to map those two triples to the triple of the *future* delta
``W_{t+horizon} - W_t`` (L1 loss, AdamW, full batch), on every ``t`` of the observed window
whose future is also observed. At the window's end ``T`` it predicts the future delta
``sigma u v^T`` and the model is extended to ``W_T + coef * sigma u v^T``, with ``coef`` chosen on
validation items of the training task; then RL continues from there.

How the paper's description is made concrete here (the public code was not available offline):

- A triple enters the MLP as the balanced factor vector ``[sqrt(sigma) u, sqrt(sigma) v]``, so the
  predicted delta is ``outer(a, b)`` of the output's two halves, and every factor of a tensor is
  sign-aligned to the right singular vector of its last global delta (a triple's sign is
  arbitrary; unaligned targets would contradict each other).
- Inputs and targets are scaled by their mean absolute value per shape group, since RL deltas
  are ~1e-3 and the paper's learning rate assumes unit-scale features.
- 1-D tensors (norms, biases) keep full deltas: their future delta is the local one extended
  linearly, ``(horizon / interval) (W_T - W_{T-interval})``.
- Only tensors the run changed take part: under LoRA, the adapter's target matrices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from peft_rlvr_bench.extrapolation import DrivenOutcome, ExtrapolatorParams, TrainingSession
from peft_rlvr_bench.extrapolation.alpharl import top_singular_triple
from peft_rlvr_bench.registry import register_extrapolator

if TYPE_CHECKING:
    from torch import Tensor


class NExtParams(ExtrapolatorParams):
    interval: int = Field(10, gt=0, description="updates spanned by a local delta (the paper: 10)")
    horizon: int = Field(
        50, gt=0, description="updates ahead whose delta the predictor learns (the paper: 50)"
    )
    coefs: list[float] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0, 3.0, 4.0],
        min_length=1,
        description="extension coefficients tried on validation (the paper: 0.5 to 4)",
    )
    continue_steps: int = Field(0, ge=0, description="real RL updates after the extension")
    hidden: int = Field(256, gt=0, description="width of the predictor's hidden layer")
    epochs: int = Field(1000, gt=0, description="full-batch AdamW steps of the predictor (the paper: 1000)")
    lr: float = Field(2e-5, gt=0, description="the predictor's AdamW learning rate (the paper: 2e-5)")
    validation_items: int = Field(200, gt=0, description="training-task items that choose the coefficient")
    seed: int = Field(0, description="seeds the predictor's initialisation")


def factor_vector(delta: Tensor, v_ref: Tensor | None) -> Tensor:
    """``[sqrt(sigma) u, sqrt(sigma) v]`` of ``delta``'s top triple, signed so ``v . v_ref >= 0``."""
    import torch

    sigma, u, v = top_singular_triple(delta.to(torch.float64))
    if v_ref is not None and float(v @ v_ref) < 0:
        u, v = -u, -v
    root = sigma.clamp_min(0).sqrt()
    return torch.cat([root * u, root * v])


def outer_of(vector: Tensor, rows: int) -> Tensor:
    """The matrix ``outer(a, b)`` of a factor vector ``[a, b]`` with ``len(a) == rows``."""
    import torch

    return torch.outer(vector[:rows], vector[rows:])


def pair_steps(steps: Sequence[int], interval: int, horizon: int) -> list[int]:
    """Updates ``t`` usable as training pairs: ``t - interval`` and ``t + horizon`` were recorded."""
    recorded = set(steps)
    return [t for t in steps if t >= interval and t - interval in recorded and t + horizon in recorded]


def fit_predictor(
    inputs: Tensor,
    targets: Tensor,
    hidden: int,
    epochs: int,
    lr: float,
    seed: int,
    queries: Tensor | None = None,
) -> Callable[[Tensor], Tensor]:
    """An MLP ``inputs -> targets`` fitted with L1 loss by full-batch AdamW; deterministic in ``seed``.

    Both sides are scaled by their mean absolute value, and the returned function undoes it. The
    input scale also covers ``queries``, the inputs it will be asked about: early in RL a window
    can hold only zero deltas (no group with mixed rewards yet), and a scale taken from those alone
    would blow a later, non-zero query up by orders of magnitude.
    """
    import torch

    seen = inputs if queries is None else torch.cat([inputs, queries])
    x_scale = seen.abs().mean().clamp_min(1e-30)
    y_scale = targets.abs().mean().clamp_min(1e-30)
    x, y = (inputs / x_scale).float(), (targets / y_scale).float()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mlp = torch.nn.Sequential(
            torch.nn.Linear(x.shape[1], hidden), torch.nn.GELU(), torch.nn.Linear(hidden, y.shape[1])
        )
    optimizer = torch.optim.AdamW(mlp.parameters(), lr=lr)
    with torch.enable_grad():
        for _ in range(epochs):
            optimizer.zero_grad()
            loss = torch.nn.functional.l1_loss(mlp(x), y)
            loss.backward()
            optimizer.step()
    mlp.requires_grad_(False)

    def predict(features: Tensor) -> Tensor:
        return mlp((features / x_scale).float()).to(torch.float64) * y_scale

    return predict


def predicted_updates(
    names: Iterable[str],
    base_of: Callable[[str], Tensor],
    series_of: Callable[[str], Sequence[Tensor]],
    steps: Sequence[int],
    params: NExtParams,
) -> dict[str, Tensor]:
    """The predicted delta ``W_{T+horizon} - W_T`` of every changed tensor, ``T = steps[-1]``.

    ``series_of(name)`` gives the tensor at each of ``steps``; it is read once per name, and only
    the factor vectors are kept, so memory is one tensor's trajectory plus small vectors.
    """
    import torch

    steps = list(steps)
    index = {step: i for i, step in enumerate(steps)}
    last = steps[-1]
    pairs = pair_steps(steps, params.interval, params.horizon)
    if not pairs or last - params.interval not in index:
        raise ValueError(
            f"next needs records at t - {params.interval}, t and t + {params.horizon} for some t, and "
            f"at {last - params.interval}; recorded updates: {steps}"
        )
    updates: dict[str, Tensor] = {}
    groups: dict[tuple[int, int], list[tuple[str, Tensor, Tensor, Tensor]]] = {}
    for name in names:
        w0 = base_of(name).to(torch.float64)
        series = [weight.to(torch.float64) for weight in series_of(name)]
        if bool((series[-1] == w0).all()):
            continue  # never touched: the adapter does not reach it
        if w0.ndim != 2:
            local = series[-1] - series[index[last - params.interval]]
            updates[name] = (params.horizon / params.interval) * local
            continue
        x, y, at_last = _samples(w0, series, index, pairs, params)
        groups.setdefault(tuple(w0.shape), []).append((name, x, y, at_last))
    for (rows, _), members in sorted(groups.items()):
        predict = fit_predictor(
            torch.cat([x for _, x, _, _ in members]),
            torch.cat([y for _, _, y, _ in members]),
            params.hidden,
            params.epochs,
            params.lr,
            params.seed,
            queries=torch.stack([at_last for _, _, _, at_last in members]),
        )
        for name, _, _, at_last in members:
            updates[name] = outer_of(predict(at_last.unsqueeze(0))[0], rows)
    broken = [name for name, update in updates.items() if not bool(torch.isfinite(update).all())]
    if broken:
        raise ValueError(f"next predicted non-finite updates for {len(broken)} tensor(s), e.g. {broken[0]}")
    return updates


def _samples(
    w0: Tensor, series: Sequence[Tensor], index: Mapping[int, int], pairs: Sequence[int], params: NExtParams
) -> tuple[Tensor, Tensor, Tensor]:
    """One matrix's predictor inputs and targets at each pair step, and its input at the last step."""
    import torch

    v_ref = top_singular_triple(series[-1] - w0)[2]

    def at(t: int) -> Tensor:
        return series[index[t]]

    def features(t: int) -> Tensor:
        global_delta, local_delta = at(t) - w0, at(t) - at(t - params.interval)
        return torch.cat([factor_vector(global_delta, v_ref), factor_vector(local_delta, v_ref)])

    x = torch.stack([features(t) for t in pairs])
    y = torch.stack([factor_vector(at(t + params.horizon) - at(t), v_ref) for t in pairs])
    return x, y, features(max(index))


def extend(state: Mapping[str, Tensor], updates: Mapping[str, Tensor], coef: float) -> dict[str, Tensor]:
    """``W_T + coef * update`` for every tensor with an update, the rest of ``state`` as it is."""
    extended = dict(state)
    for name, update in updates.items():
        weight = state[name]
        extended[name] = (weight.to(update.dtype) + coef * update).to(weight.dtype)
    return extended


@register_extrapolator("next")
class NExt:
    Params: ClassVar[type[ExtrapolatorParams]] = NExtParams
    drives_training: ClassVar[bool] = True

    def validate(self, observe: int, target: int, every: int, params: NExtParams) -> None:
        windows = {"observe": observe, "interval": params.interval, "horizon": params.horizon}
        for field, value in windows.items():
            if value % every:
                raise ValueError(
                    f"{field} ({value}) must be a multiple of trajectory.every ({every}) so its records exist"
                )
        if observe < params.interval + params.horizon:
            raise ValueError(
                f"observe ({observe}) must be at least interval + horizon "
                f"({params.interval} + {params.horizon}) so the predictor has a training pair"
            )

    def run(self, session: TrainingSession, observe: int, target: int, params: NExtParams) -> DrivenOutcome:
        from peft_rlvr_bench.trajectory import effective_series, effective_weight_names

        trajectory = session.trajectory
        updates = predicted_updates(
            effective_weight_names(trajectory),
            session.base_state.__getitem__,
            lambda name: [w for _, w in effective_series(trajectory, session.base_state, name)],
            trajectory.updates,
            params,
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
