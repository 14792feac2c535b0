"""NExt's trajectory predictors and how they are trained (arXiv 2604.11446; ``docs/methods.md``).

Two networks map a tensor's *global* and *local* delta features to the features of its future
delta, applied row-wise (one row per tensor and checkpoint):

- ``SeparatePredictor``: the authors' ``MatrixPredict`` (RUCAIBox/NExt ``src/train.py``). Each
  input goes through its own branch ``Linear(d, w) Linear(w, d) ReLU Linear(d, w) Linear(w, d)``
  and a combiner of the same shape maps both branches' outputs to ``d``. The consecutive
  ``Linear`` layers without an activation between them are the authors'.
- ``JointPredictor``: one ``Linear GELU Linear`` MLP on the concatenated inputs; the harness's
  earlier reading of the paper, kept as ``predictor: joint``.

Both train the way ``src/train.py`` does: AdamW, a cosine learning rate from ``lr`` down to
``lr / 10`` over the epochs, one full-batch step per epoch, and the L1 error summed over every
row and coordinate and divided by the number of checkpoints.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

PredictorKind = Literal["separate", "joint"]

MIN_LR_RATIO = 0.1
"""The cosine schedule's floor as a fraction of ``lr`` (``eta_min=lr * 0.1`` in ``src/train.py``)."""


def _branch(dim: int, width: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(dim, width), nn.Linear(width, dim), nn.ReLU(), nn.Linear(dim, width), nn.Linear(width, out)
    )


class SeparatePredictor(nn.Module):
    """The authors' predictor for one feature group of dimension ``dim`` (see the module doc)."""

    def __init__(self, dim: int, width: int) -> None:
        super().__init__()
        self.global_branch = _branch(dim, width, dim)
        self.local_branch = _branch(dim, width, dim)
        self.combine = _branch(2 * dim, width, dim)

    def forward(self, global_features: Tensor, local_features: Tensor) -> Tensor:
        joined = torch.cat([self.global_branch(global_features), self.local_branch(local_features)], dim=-1)
        return self.combine(joined)


class JointPredictor(nn.Module):
    """``Linear(2 dim, width) GELU Linear(width, dim)`` on ``[global, local]``."""

    def __init__(self, dim: int, width: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * dim, width), nn.GELU(), nn.Linear(width, dim))

    def forward(self, global_features: Tensor, local_features: Tensor) -> Tensor:
        return self.mlp(torch.cat([global_features, local_features], dim=-1))


def fit_l1(
    model: nn.Module,
    global_features: Tensor,
    local_features: Tensor,
    targets: Tensor,
    checkpoints: int,
    epochs: int,
    lr: float,
) -> list[float]:
    """Trains ``model`` in place as ``src/train.py`` does; returns the loss of every epoch.

    Summing the per-checkpoint losses divided by ``checkpoints`` over one batch gives the same
    gradient as the authors' accumulation over checkpoints before each optimizer step.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=lr * MIN_LR_RATIO)
    losses = []
    with torch.enable_grad():
        for _ in range(epochs):
            optimizer.zero_grad()
            loss = (model(global_features, local_features) - targets).abs().sum() / checkpoints
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
    model.requires_grad_(False)
    return losses


def train_and_predict(
    kind: PredictorKind,
    samples: tuple[Tensor, Tensor, Tensor],
    queries: tuple[Tensor, Tensor],
    checkpoints: int,
    *,
    width: int,
    epochs: int,
    lr: float,
    seed: int,
    normalise: bool = False,
    device: str | torch.device = "cpu",
) -> Tensor:
    """Fits a ``kind`` predictor on ``samples`` = ``(global, local, target)`` rows ``[N, d]`` and
    returns its float64 predictions for ``queries`` = ``(global, local)`` rows ``[M, d]``.

    The authors' code feeds the features as they are. With ``normalise``, inputs and targets
    are divided by their mean absolute value (undone on the output), so features at the ~1e-3
    scale of small models' RL deltas reach the unit scale the learning rate assumes; the input
    scale also covers the queries: early in RL a window can hold only zero deltas, and a scale
    taken from those alone would blow a later, non-zero query up by orders of magnitude.
    """
    global_rows, local_rows, targets = samples
    query_global, query_local = queries
    x_scale = y_scale = 1.0
    if normalise:
        seen = torch.cat([global_rows, local_rows, query_global, query_local])
        x_scale = max(float(seen.abs().mean()), 1e-30)
        y_scale = max(float(targets.abs().mean()), 1e-30)

    def prepared(rows: Tensor, scale: float) -> Tensor:
        return (rows / scale).to(device=device, dtype=torch.float32)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = SeparatePredictor if kind == "separate" else JointPredictor
        model = network(targets.shape[1], width).to(device)
    fit_l1(
        model,
        prepared(global_rows, x_scale),
        prepared(local_rows, x_scale),
        prepared(targets, y_scale),
        checkpoints,
        epochs,
        lr,
    )
    predicted = model(prepared(query_global, x_scale), prepared(query_local, x_scale))
    return predicted.to(device="cpu", dtype=torch.float64) * y_scale
