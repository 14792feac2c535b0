"""Benchmark: time and peak memory of ``prb extrapolate`` (relex, alpharl, linear) as the number of
checkpoints T and the model size d grow (issue 9, benchmark 3).

Inputs are synthetic Hugging Face directories (``synthetic.py``: a Llama-shaped state dict of
about 1M, 10M or 100M float32 parameters, a base plus T checkpoints at updates 10, 20, ..., 10T),
and each case predicts update 20T with ``extrapolate_checkpoints``, the function behind
``prb extrapolate``. Each case runs in a fresh process (``measure.py``), which reports the call's
seconds and its peak memory, so a case's peak is its own. The benchmark's time is that process's
wall time (interpreter and torch start-up included, a few seconds); ``extra_info["seconds"]`` is
the call alone, the figure RESULTS.md reports.

Memory: the extrapolators are per tensor, and the reader loads one tensor's series at a time, so
the design's peak is the predicted state dict (d) plus T copies of the largest tensor plus the
method's float64 work space, not T copies of the model. ``added_anon_mb`` (allocated by the call)
is the figure to check that against; ``added_rss_mb`` also counts the pages of the memory-mapped
checkpoint files that were read, which the kernel can drop.

Disk: the inputs of one size live at a time in a temporary directory and are deleted when the
next size starts; a size whose files would not fit in the free space (with 1 GB to spare) skips.
The plot ``benchmarks/extrapolation_scaling.png`` is drawn at the end (``report.py`` can redraw
it from ``benchmarks/latest.json``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import synthetic
from common import REPO, pick, quick
from measure import in_subprocess

METHODS = ["relex", "alpharl", "linear"]
T_SWEEP = pick([2, 4, 8, 16], [2, 4])
SIZE_FOR_T_SWEEP = pick("10M", "1M")
SIZE_SWEEP = pick(["1M", "10M", "100M"], ["1M"])
T_FOR_SIZE_SWEEP = 4
PLOT = REPO / "benchmarks" / ("extrapolation_scaling-quick.png" if quick() else "extrapolation_scaling.png")


def _checkpoint_counts(size: str) -> list[int]:
    counts = {T_FOR_SIZE_SWEEP} | (set(T_SWEEP) if size == SIZE_FOR_T_SWEEP else set())
    return sorted(counts)


CASES = [(size, t, method) for size in SIZE_SWEEP for t in _checkpoint_counts(size) for method in METHODS]


class _Inputs:
    """The synthetic checkpoints of one size at a time (the largest T any case of it needs)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.size: str | None = None
        self.base: Path | None = None
        self.checkpoints: dict[int, Path] = {}

    def get(self, size: str) -> tuple[Path, dict[int, Path]]:
        if self.size != size:
            self.clear()
            layout = synthetic.LAYOUTS[size]
            t_max = max(_checkpoint_counts(size))
            needed = (t_max + 2) * layout.numel * 4 + (1 << 30)
            free = synthetic.free_bytes(self.root)
            if free < needed:
                pytest.skip(f"{size}: needs {needed / 1e9:.1f} GB of disk, {free / 1e9:.1f} GB free")
            self.base, self.checkpoints = synthetic.write_trajectory(
                layout, self.root / size, [10 * (i + 1) for i in range(t_max)]
            )
            self.size = size
        assert self.base is not None
        return self.base, self.checkpoints

    def clear(self) -> None:
        if self.size is not None:
            shutil.rmtree(self.root / self.size, ignore_errors=True)
        self.size, self.base, self.checkpoints = None, None, {}


_rows: list[dict[str, Any]] = []


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory):
    holder = _Inputs(tmp_path_factory.mktemp("extrapolation-scaling"))
    yield holder
    holder.clear()
    if _rows:
        from report import plot_extrapolation

        plot_extrapolation(_rows, PLOT)


@pytest.mark.parametrize(("size", "checkpoints", "method"), CASES, ids=[f"{s}-T{t}-{m}" for s, t, m in CASES])
def test_extrapolation_time_and_memory(
    benchmark, inputs: _Inputs, size: str, checkpoints: int, method: str
) -> None:
    benchmark.group = "extrapolation scaling"
    base, available = inputs.get(size)
    steps = sorted(available)[:checkpoints]
    out = inputs.root / f"out-{size}-{checkpoints}-{method}"
    target = 2 * steps[-1]

    def run() -> dict[str, float]:
        shutil.rmtree(out, ignore_errors=True)
        return in_subprocess(
            "extrapolate",
            method=method,
            params={},
            base=str(base),
            checkpoints={str(step): str(available[step]) for step in steps},
            target=target,
            out=str(out),
        )

    figures = benchmark.pedantic(run, rounds=1, iterations=1)
    shutil.rmtree(out, ignore_errors=True)
    layout = synthetic.LAYOUTS[size]
    row = {
        "method": method,
        "size": size,
        "params": layout.numel,
        "largest_tensor": layout.largest_tensor,
        "checkpoints": checkpoints,
        **figures,
    }
    benchmark.extra_info.update(row)
    _rows.append(row)
