"""The two-point linear extrapolation."""

from __future__ import annotations

import torch

from peft_rlvr_bench.extrapolation.linear import Linear, LinearParams
from tests.helpers.synthetic import BLOCK, F64, STEPS, randn, trajectory

# --- Linear ----------------------------------------------------------------------------------


def test_linear_recovers_a_linear_path_and_copies_1d_tensors_from_t1() -> None:
    w0, d = randn(5, 4, seed=0), randn(5, 4, seed=1)
    weights = trajectory(w0, lambda t: (t + 7.0) * d, STEPS)
    for params in (LinearParams(), LinearParams(t0_index=0, t1_index=2)):
        predicted = Linear().predict(BLOCK, w0, STEPS, weights, 137, params)
        torch.testing.assert_close(predicted, w0 + 144.0 * d)
    norm = [randn(6, seed=s) for s in range(len(STEPS))]  # not on any line
    base_norm = torch.ones(6, dtype=F64)
    assert torch.equal(
        Linear().predict("model.norm.weight", base_norm, STEPS, norm, 500, LinearParams()), norm[-1]
    )
    copied = Linear().predict("model.norm.weight", base_norm, STEPS, norm, 500, LinearParams(t1_index=1))
    assert torch.equal(copied, norm[1])
