"""Settings shared by the benchmarks: quick mode and the repository root.

Quick mode (``PRB_BENCH_QUICK=1``, or ``--quick``, or ``make bench QUICK=1``) shrinks every
benchmark to a smoke test of itself: tiny sizes, one or two rounds. Its figures are not results.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def quick() -> bool:
    return os.environ.get("PRB_BENCH_QUICK", "") not in ("", "0")


def pick(full, small):
    """``full`` normally, ``small`` in quick mode."""
    return small if quick() else full
