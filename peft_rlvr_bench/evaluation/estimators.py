"""Sampled-accuracy estimators: avg@k and the unbiased pass@k (Chen et al. 2021, arXiv 2107.03374).

Pure functions on counts and scores, so lm-eval's scoring hook and the tests share them.
"""

from __future__ import annotations

from collections.abc import Sequence

PASS_SCORE = 1.0
"""A sample counts as correct for pass@k when its verifier gives it full credit."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """The probability that at least one of ``k`` samples drawn without replacement from ``n``
    samples, ``c`` of them correct, is correct: ``1 - C(n-c, k) / C(n, k)``.

    Computed as ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, which never forms the binomials (they
    overflow floats for n in the hundreds). ``pass_at_k(n, c, 1) == c / n``.
    """
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    if n - c < k:  # every draw of k contains a correct sample
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def avg_at_k(scores: Sequence[float]) -> float:
    """The mean verifier score over an item's samples (its expected accuracy at this temperature)."""
    if not scores:
        raise ValueError("avg@k needs at least one sample")
    return sum(scores) / len(scores)


def n_correct(scores: Sequence[float]) -> int:
    return sum(1 for score in scores if score >= PASS_SCORE)
