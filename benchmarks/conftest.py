"""Options of the benchmark session: ``--quick`` and ``--bench-suite``.

- ``--quick`` (or ``PRB_BENCH_QUICK=1``): every benchmark at tiny sizes, to check that it runs
  (the trajectory-recording benchmark, which predates quick mode, gets 5 updates per run here).
- ``--bench-suite``: also run the benchmarks marked ``suite_walltime`` (a whole suite, minutes);
  without it they are skipped, so ``make bench`` stays short. ``make bench-suite`` passes it.
- ``PRB_BENCH_THREADS=N``: torch (and OpenMP in the subprocesses) use N threads. Unset: torch's
  default (the core count). On a machine shared with other jobs, two OpenMP threads can run
  LAPACK 10-50x slower than one (each waits on the other's descheduled core).
"""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("peft-rlvr-bench benchmarks")
    group.addoption("--quick", action="store_true", help="tiny sizes: a smoke test of the benchmarks")
    group.addoption(
        "--bench-suite", action="store_true", help="also run the suite wall-time benchmark (minutes)"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "suite_walltime: runs a whole suite; skipped unless --bench-suite")
    if config.getoption("--quick", default=False):
        os.environ["PRB_BENCH_QUICK"] = "1"  # before the benchmark modules are imported
    threads = os.environ.get("PRB_BENCH_THREADS")
    if threads:
        os.environ["OMP_NUM_THREADS"] = threads
        os.environ["MKL_NUM_THREADS"] = threads


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PRB_BENCH_QUICK", "") not in ("", "0"):
        for module in {item.module for item in items if isinstance(item, pytest.Function)}:
            if module.__name__ == "test_trajectory_recording":
                module.UPDATES = 5  # its rounds stay 5; 5 updates each keep quick mode short
    if config.getoption("--bench-suite", default=False):
        return
    skip = pytest.mark.skip(reason="a whole suite (minutes): pass --bench-suite or run `make bench-suite`")
    for item in items:
        if "suite_walltime" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _torch_threads() -> None:
    threads = os.environ.get("PRB_BENCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
