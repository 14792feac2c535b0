"""The ratio of two cases measured in interleaved pairs, with its confidence interval.

Each pair is one run of each case back to back (their order rotating from pair to pair), so slow
drift of the machine (other jobs, thermal state) hits both sides of a pair alike and cancels in
its ratio; what is left is the pair-to-pair scatter, which the interval reports. The estimate is
the geometric mean of the pair ratios (the mean of their logarithms, so ``a/b`` and ``b/a`` are
reciprocal), with two 95% intervals on it: Student's t on the log ratios, and scipy's
bias-corrected and accelerated bootstrap (BCa) of their mean, which assumes no normality.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats


def ratio_interval(
    numerators: Sequence[float], denominators: Sequence[float], confidence: float = 0.95, seed: int = 0
) -> dict[str, Any]:
    """The geometric-mean ratio ``numerator / denominator`` over pairs, with its t and BCa intervals
    (``None`` where fewer than 3 pairs leave an interval meaningless)."""
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError(f"{len(numerators)} numerators for {len(denominators)} denominators")
    logs = np.log(np.asarray(numerators, dtype=float) / np.asarray(denominators, dtype=float))
    pairs = len(logs)
    estimate = math.exp(float(logs.mean()))
    result: dict[str, Any] = {
        "pairs": pairs,
        "ratio": estimate,
        "pair_ratios": [math.exp(value) for value in logs],
        "t_low": None,
        "t_high": None,
        "bca_low": None,
        "bca_high": None,
        "confidence": confidence,
    }
    if pairs < 3:
        return result
    spread = float(logs.std(ddof=1)) / math.sqrt(pairs)
    half = float(stats.t.ppf(0.5 + confidence / 2, pairs - 1)) * spread
    result["t_low"], result["t_high"] = math.exp(logs.mean() - half), math.exp(logs.mean() + half)
    if spread > 0:
        boot = stats.bootstrap(
            (logs,), np.mean, confidence_level=confidence, method="BCa", n_resamples=9999, random_state=seed
        )
        low, high = boot.confidence_interval
        if math.isfinite(low) and math.isfinite(high):
            result["bca_low"], result["bca_high"] = math.exp(low), math.exp(high)
    return result


def rotation(cases: Sequence[str], index: int) -> list[str]:
    """Round ``index``'s order of ``cases``: each case goes first equally often, so a cost that
    lands on whichever case runs first (or last) in a round is spread over all of them."""
    shift = index % len(cases)
    return list(cases[shift:]) + list(cases[:shift])
