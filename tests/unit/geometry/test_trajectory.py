"""Trajectory geometry on series whose answer is known: explained variance, direction alignment."""

from __future__ import annotations

import math

import pytest
import torch

from peft_rlvr_bench import geometry as geo
from tests.helpers.synthetic import F64, randn

METHODS = ["full", "gram", "randomized"]


# --- trajectories ---------------------------------------------------------------------------


def test_trajectory_explained_variance_rank_one_and_two_directions() -> None:
    W0 = randn(10, 6, seed=15)
    direction = randn(10, 6, seed=16)
    rank_one = [W0 + c * direction for c in (0.5, 1.0, 3.0, -2.0)]
    assert geo.trajectory_explained_variance(W0, rank_one) == pytest.approx(1.0, abs=1e-12)
    # Uncentred: a constant offset is one direction, not zero variance.
    assert geo.trajectory_explained_variance(W0, [W0 + direction] * 3) == pytest.approx(1.0)
    # Two orthogonal directions of equal energy: exactly half each.
    A = torch.zeros(10, 6, dtype=F64)
    B = torch.zeros(10, 6, dtype=F64)
    A[0, 0], B[1, 1] = 1.0, 1.0
    assert geo.trajectory_explained_variance(W0, [W0 + A, W0 + B]) == pytest.approx(0.5)
    two = [W0 + direction, W0 + randn(10, 6, seed=17)]
    assert geo.trajectory_explained_variance(W0, two) < 0.99
    assert math.isnan(geo.trajectory_explained_variance(W0, [W0, W0]))


@pytest.mark.parametrize("method", METHODS)
def test_left_vector_alignment_follows_a_rotating_direction(method: str) -> None:
    W0 = randn(8, 5, seed=18)
    e1, e2 = torch.eye(8, dtype=F64)[0], torch.eye(8, dtype=F64)[1]
    v = torch.eye(5, dtype=F64)[2]
    phis = [0.0, 0.4, 1.0, 1.2]
    weights = [W0 + 2.0 * torch.outer(math.cos(p) * e1 + math.sin(p) * e2, v) for p in phis]
    alignment = geo.left_vector_alignment(W0, weights, method)
    assert alignment == pytest.approx([abs(math.cos(phis[-1] - p)) for p in phis], abs=1e-7)
    assert math.isnan(geo.left_vector_alignment(W0, [W0, weights[-1]], method)[0])
