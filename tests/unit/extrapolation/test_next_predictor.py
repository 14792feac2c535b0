"""NExt's predictors: the authors' network shapes and their L1 fit on a cosine schedule."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from peft_rlvr_bench.extrapolation.next_predictor import MIN_LR_RATIO, SeparatePredictor, fit_l1

# --- the predictor and its training -----------------------------------------------------------


def _layers(sequence: nn.Sequential) -> list[tuple[str, int | None, int | None]]:
    return [
        (type(m).__name__, getattr(m, "in_features", None), getattr(m, "out_features", None))
        for m in sequence
    ]


def test_separate_predictor_has_the_authors_branches_and_combiner() -> None:
    model = SeparatePredictor(dim=5, width=7)
    branch = [("Linear", 5, 7), ("Linear", 7, 5), ("ReLU", None, None), ("Linear", 5, 7), ("Linear", 7, 5)]
    assert _layers(model.global_branch) == branch and _layers(model.local_branch) == branch
    assert model.global_branch is not model.local_branch
    assert _layers(model.combine) == [
        ("Linear", 10, 7),
        ("Linear", 7, 10),
        ("ReLU", None, None),
        ("Linear", 10, 7),
        ("Linear", 7, 5),
    ]
    assert model(torch.zeros(3, 5), torch.zeros(3, 5)).shape == (3, 5)


class Constant(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.value = nn.Parameter(torch.zeros(()))

    def forward(self, global_features: torch.Tensor, local_features: torch.Tensor) -> torch.Tensor:
        return self.value.expand_as(global_features)


def test_fit_l1_sums_the_error_per_checkpoint_and_anneals_the_rate_on_a_cosine() -> None:
    """Far from its target, AdamW moves a parameter by the learning rate each step, so the
    distance covered is the sum of the schedule (less AdamW's weight decay)."""
    model, epochs, lr = Constant(), 50, 0.1
    rows = torch.zeros(3, 2)
    losses = fit_l1(model, rows, rows, torch.full((3, 2), 1e6), checkpoints=4, epochs=epochs, lr=lr)
    assert losses[0] == pytest.approx(6 * 1e6 / 4)  # summed over rows and coordinates, / checkpoints
    expected = 0.0
    for k in range(epochs):
        rate = lr * MIN_LR_RATIO + lr * (1 - MIN_LR_RATIO) * (1 + math.cos(math.pi * k / epochs)) / 2
        expected = expected * (1 - rate * 0.01) + rate  # decoupled weight decay 0.01, then the step
    assert float(model.value) == pytest.approx(expected, rel=1e-4)  # a constant rate would give ~5.0
