"""Synthetic weights with known answers: seeded float64 draws, trajectories along a closed form,
bf16 neighbours, and a reference two-way ANOVA for the seeds x items statistics."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

F64 = torch.float64
BLOCK = "model.layers.0.self_attn.q_proj.weight"
"""A block matrix's name: the extrapolators and geometry treat it as an attention/MLP matrix."""
STEPS = [10, 20, 30, 40, 50]
"""Recorded optimizer updates of a synthetic trajectory."""


def randn(*shape: int, seed: int, dtype: torch.dtype = F64) -> torch.Tensor:
    """A seeded standard normal tensor, drawn in float64 then cast (so every dtype sees the same draw)."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64).to(dtype)


def trajectory(w0: torch.Tensor, delta_at: Callable[[int], torch.Tensor], steps: Sequence[int]) -> list:
    """``W_t = W0 + delta_at(t)`` at each of ``steps``."""
    return [w0 + delta_at(t) for t in steps]


def next_bf16(values: torch.Tensor) -> torch.Tensor:
    """The adjacent bf16 bit pattern (one unit in the last place), for positive and negative values."""
    return (values.contiguous().view(torch.int16) + 1).view(torch.bfloat16)


def anova_variance(y: np.ndarray) -> float:
    """(MS_seed + MS_item - MS_resid) / (S * I) straight from the two-way ANOVA sums of squares."""
    s, i = y.shape
    grand = y.mean()
    ms_seed = i * ((y.mean(axis=1) - grand) ** 2).sum() / (s - 1)
    ms_item = s * ((y.mean(axis=0) - grand) ** 2).sum() / (i - 1)
    resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + grand
    ms_resid = (resid**2).sum() / ((s - 1) * (i - 1))
    return (ms_seed + ms_item - ms_resid) / (s * i)
