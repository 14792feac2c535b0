"""What NExt's predictors see of a delta, and how a predicted delta is rebuilt from it.

A delta is cut into *pieces*, each keyed by ``(kind, rows, cols)``; the predictor of a key is
shared by every tensor with a piece of that key (``docs/methods.md``, "NExt").

``separate`` (RUCAIBox/NExt ``src/compute_*_delta.py``, ``src/extrapolate.py``): a matrix gives
its top singular triple as a column ``u`` (``("column", m, 1)``), a scalar ``sigma``
(``("scalar", 1, 1)``) and a row ``v`` (``("row", 1, n)``); a 1-D tensor gives its raw delta as a
column of its length, so it shares the predictor of the left singular vectors of that length,
as in the authors' code. The rebuilt delta is ``sigma u v^T`` with ``u`` and ``v`` re-normalised.

``joint``: a matrix gives the balanced factor vector ``[sqrt(sigma) u, sqrt(sigma) v]``
(``("matrix", m, n)``), sign-aligned to a reference right singular vector, and is rebuilt as
``outer(a, b)`` of its halves; a 1-D tensor gives its raw delta (``("vector", n, 1)``).

Matrices with more than two dimensions are read as ``[shape[0], -1]``. Pure tensor functions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from peft_rlvr_bench.extrapolation.alpharl import top_singular_triple

if TYPE_CHECKING:
    from torch import Size, Tensor

PieceKey = tuple[str, int, int]
Pieces = dict[PieceKey, "Tensor"]


def as_matrix(tensor: Tensor) -> Tensor:
    return tensor.reshape(tensor.shape[0], -1)


def top_triple(matrix: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(sigma, u, v)`` of a float64 matrix; a zero matrix gives ``(0, e_1, e_1)``, as LAPACK's SVD
    does, without running one (the authors decompose untouched weights' zero deltas too)."""
    import torch

    if not bool(matrix.any()):
        u = torch.zeros(matrix.shape[0], dtype=matrix.dtype, device=matrix.device)
        v = torch.zeros(matrix.shape[1], dtype=matrix.dtype, device=matrix.device)
        u[0] = v[0] = 1
        return torch.zeros((), dtype=matrix.dtype, device=matrix.device), u, v
    return top_singular_triple(matrix)


def signed_triple(matrix: Tensor, v_ref: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """``top_triple``, with ``(u, v)`` flipped where needed so that ``v . v_ref >= 0``."""
    sigma, u, v = top_triple(matrix)
    if v_ref is not None and float(v @ v_ref) < 0:
        u, v = -u, -v
    return sigma, u, v


def separate_pieces(delta: Tensor, v_ref: Tensor | None = None) -> Pieces:
    """The authors' pieces of ``delta`` (float64): ``u``, ``sigma`` and ``v`` (signed against
    ``v_ref`` when given), or a 1-D delta as is."""
    if delta.ndim == 1:
        return {("column", delta.shape[0], 1): delta}
    sigma, u, v = signed_triple(as_matrix(delta), v_ref)
    return {("column", u.shape[0], 1): u, ("scalar", 1, 1): sigma.reshape(1), ("row", 1, v.shape[0]): v}


def separate_delta(shape: Size, pieces: Pieces) -> Tensor:
    """The delta of predicted pieces: ``sigma u v^T`` with ``u``, ``v`` scaled to unit length
    (``resume_svd`` in ``src/extrapolate.py``); a 1-D tensor's predicted vector as it is."""
    import torch

    if len(shape) == 1:
        return pieces[("column", shape[0], 1)]
    rows, cols = shape[0], math.prod(shape[1:])
    u, sigma, v = pieces[("column", rows, 1)], pieces[("scalar", 1, 1)], pieces[("row", 1, cols)]
    return (sigma * torch.outer(u / u.norm(), v / v.norm())).reshape(shape)


def factor_vector(delta: Tensor, v_ref: Tensor | None) -> Tensor:
    """``[sqrt(sigma) u, sqrt(sigma) v]`` of a matrix delta's top triple, signed so ``v . v_ref >= 0``."""
    import torch

    sigma, u, v = signed_triple(as_matrix(delta), v_ref)
    root = sigma.clamp_min(0).sqrt()
    return torch.cat([root * u, root * v])


def outer_of(vector: Tensor, rows: int) -> Tensor:
    """The matrix ``outer(a, b)`` of a factor vector ``[a, b]`` with ``len(a) == rows``."""
    import torch

    return torch.outer(vector[:rows], vector[rows:])


def joint_pieces(delta: Tensor, v_ref: Tensor | None) -> Pieces:
    """The ``joint`` piece of ``delta``: its balanced factor vector, or a 1-D delta as is."""
    if delta.ndim == 1:
        return {("vector", delta.shape[0], 1): delta}
    rows, cols = as_matrix(delta).shape
    return {("matrix", rows, cols): factor_vector(delta, v_ref)}


def joint_delta(shape: Size, pieces: Pieces) -> Tensor:
    """The delta of a predicted ``joint`` piece."""
    ((_, rows, _), vector), *_ = pieces.items()
    return vector if len(shape) == 1 else outer_of(vector, rows).reshape(shape)
