"""avg@k and pass@k: known values, exact binomials, impossible counts."""

from __future__ import annotations

import itertools
import math

import pytest

from peft_rlvr_bench.evaluation.estimators import pass_at_k

# --- estimators -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 2, 1, 0.4),  # pass@1 is c / n
        (10, 3, 2, 1 - 21 / 45),  # 1 - C(7, 2) / C(10, 2)
        (5, 2, 5, 1.0),  # k = n: any correct sample passes
        (5, 0, 5, 0.0),
        (4, 4, 4, 1.0),
        (5, 0, 1, 0.0),  # c = 0 never passes
        (5, 0, 3, 0.0),
        (5, 3, 3, 1.0),  # n - c < k: every draw holds a correct sample
        (500, 1, 250, 0.5),  # C(499, 250) / C(500, 250) = 250 / 500, binomials far past float range
    ],
)
def test_pass_at_k_known_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_matches_exact_binomials_and_grows_with_k() -> None:
    for n in range(1, 13):
        for c in range(n + 1):
            values = [pass_at_k(n, c, k) for k in range(1, n + 1)]
            exact = [1 - math.comb(n - c, k) / math.comb(n, k) for k in range(1, n + 1)]
            assert values == pytest.approx(exact, abs=1e-12)
            assert values[0] == pytest.approx(c / n, abs=1e-12), "pass@1 is the mean accuracy"
            assert all(a <= b + 1e-12 for a, b in itertools.pairwise(values))


@pytest.mark.parametrize(("n", "c", "k"), [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_pass_at_k_rejects_impossible_counts(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)
