"""Benchmark: weight-geometry cost as the model and the matrices grow (issue 9, benchmark 4).

- ``prb analyze`` against d: ``analyze_dirs`` (default parameters: the ``gram`` decomposition,
  k = 16 and 64) on a synthetic base and a tuned checkpoint of about 1M, 10M and 100M parameters
  (``synthetic.py``), in a fresh process per case like the extrapolation benchmark
  (``extra_info["seconds"]`` is the call alone; the benchmark's time adds interpreter start-up).
- ``decompose`` against the matrix size, per method: ``full`` (LAPACK SVD), ``gram`` (``eigh`` of
  the smaller Gram matrix), ``randomized`` (subspace iteration for the top-k vectors, Gram
  eigenvalues for the spectrum) and ``randomized-top`` (``full_spectrum=False``: the top-k values
  only, as ``left_vector_alignment`` asks). k = 64, the largest k the analysis uses. The matrices
  are shaped like an MLP matrix (h x 2.75h) with a power-law spectrum ``i^-0.5`` (random singular
  vectors), slowly decaying like trained weights' spectra. ``extra_info`` holds each method's
  error against ``full``: the largest relative error of the top-64 singular values, the relative
  error of the whole spectrum, and the largest principal angle (degrees) between its top-16 and
  top-64 left singular subspaces and the SVD's.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest
import synthetic
from common import pick
from measure import in_subprocess

ANALYZE_SIZES = pick(["1M", "10M", "100M"], ["1M"])
MATRIX_SIZES = pick([256, 512, 1024, 2048], [128, 256])
METHODS = ["full", "gram", "randomized", "randomized-top"]
K = 64


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("geometry-scaling")


@pytest.mark.parametrize("size", ANALYZE_SIZES)
def test_analyze_against_model_size(benchmark, scratch: Path, size: str) -> None:
    benchmark.group = "prb analyze vs model size"
    layout = synthetic.LAYOUTS[size]
    needed = 2 * layout.numel * 4 + (1 << 30)
    if synthetic.free_bytes(scratch) < needed:
        pytest.skip(f"{size}: needs {needed / 1e9:.1f} GB of disk")
    base, checkpoints = synthetic.write_trajectory(layout, scratch / size, [100])
    try:
        figures = benchmark.pedantic(
            lambda: in_subprocess("analyze", base=str(base), tuned=str(checkpoints[100])),
            rounds=1,
            iterations=1,
        )
    finally:
        shutil.rmtree(scratch / size, ignore_errors=True)
    matrices = sum(1 for shape in layout.shapes().values() if len(shape) == 2) - 2  # less embed, head
    benchmark.extra_info.update(
        size=size, params=layout.numel, block_matrices=matrices, **figures, method="gram"
    )


def spectrum_matrix(rows: int, columns: int, seed: int = 0) -> Any:
    """``U diag(s) V^T`` with random orthonormal ``U``, ``V`` and a power-law spectrum
    ``s_i = i^-0.5``: the slowly decaying, heavy-tailed spectra of trained weights, no spike-and-
    bulk gap for an iterative method to exploit."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    rank = min(rows, columns)
    left = torch.linalg.qr(torch.randn(rows, rank, generator=generator, dtype=torch.float64)).Q
    right = torch.linalg.qr(torch.randn(columns, rank, generator=generator, dtype=torch.float64)).Q
    values = torch.arange(1, rank + 1, dtype=torch.float64) ** -0.5
    return (left * values) @ right.T


_references: dict[int, Any] = {}


def _decompose(matrix: Any, method: str) -> Any:
    from peft_rlvr_bench.geometry import decompose

    if method == "randomized-top":
        return decompose(matrix, K, "randomized", full_spectrum=False)
    return decompose(matrix, K, method)


CASES = [(size, method) for size in MATRIX_SIZES for method in METHODS]


@pytest.mark.parametrize(("hidden", "method"), CASES, ids=[f"{h}x{round(2.75 * h)}-{m}" for h, m in CASES])
def test_decompose_against_matrix_size(benchmark, hidden: int, method: str) -> None:
    import torch

    from peft_rlvr_bench.geometry import principal_angles

    rows, columns = hidden, round(2.75 * hidden)
    benchmark.group = f"decompose, {rows} x {columns}, k={K}"
    matrix = spectrum_matrix(rows, columns)
    rounds = 1 if hidden >= 1024 else pick(3, 1)
    result = benchmark.pedantic(lambda: _decompose(matrix, method), rounds=rounds, iterations=1)
    if method == "full":
        _references[hidden] = result
    benchmark.extra_info.update(shape=[rows, columns], k=K, threads=torch.get_num_threads())
    if method == "full":
        return
    reference = _references.get(hidden) or _decompose(matrix, "full")
    top = reference.S[:K]
    benchmark.extra_info["top_values_max_rel_error"] = float(((result.S[:K] - top).abs() / top).max())
    if result.S.numel() == reference.S.numel():
        error = torch.linalg.vector_norm(result.S - reference.S) / torch.linalg.vector_norm(reference.S)
        benchmark.extra_info["spectrum_rel_error"] = float(error)
    for k in (16, K):
        angles = principal_angles(reference.U[:, :k], result.U[:, :k])
        benchmark.extra_info[f"top{k}_left_angle_deg"] = math.degrees(float(angles.max()))
