"""Weight-geometry diagnostics as pure tensor functions: a tuned weight against its base ``W0``.

The definitions behind every figure (``docs/methods.md``, "Weight geometry"); the summary over a
model is ``geometry/summary.py``. ``W+`` is
the *effective* tuned weight (a LoRA merged in, a PiSSA residual plus its adapter), always
compared with the original ``W0``, never a residual. All math is float64 on ``W0``'s device;
``dW = W+ - W0`` is taken from the values as stored, so bf16 rounding is part of the update.

Definitions, following arXiv 2511.08567 and 2605.06523 where they give one:

- **update sparsity**: the fraction of coordinates whose value, stored as ``dtype`` (bf16 by
  default), keeps its bit pattern. The paper's test ``|a - b| <= 1e-3 max(|a|, |b|)`` is the same
  thing for bf16 (adjacent bf16 values differ by at least 2^-8 relative), except that it calls
  -0.0 and 0.0 equal; ``rtol`` switches to it.
- **spectral shift**: ``||sigma(W+) - sigma(W0)||_2 / ||sigma(W0)||_2`` over the full spectrum.
- **principal angles**: between the top-k left (and right) singular subspaces, k capped at
  ``min(shape)``; reported in degrees, the largest of the k. Computed from cosines and sines
  together (Bjorck-Golub), so small angles are not lost to ``arccos`` near 1.
- **off-principal alignment**: ``|changed & M| / |changed|`` for ``M_princ`` (top-alpha of
  ``|rank-k reconstruction of W0|``) and ``M_low`` (bottom-alpha of ``|W0|``), built like the sparse
  adapter's masks (exact counts, ties to the lower flat index); the random baseline is
  ``|M| / numel``, the exact expected overlap of a uniformly random ``changed`` set of any size.
  The continuous variant is ``||U_k^T dW V_k||_F^2 / ||dW||_F^2`` in ``W0``'s top-k frame, against
  ``k_out k_in / (out in)``: the expectation of the numerator over that of the denominator for any
  ``dW`` with independent zero-mean entries of equal variance (exact for an isotropic ``dW``).
- **update effective rank**: Roy & Vetterli (2007), ``exp(H(p))`` with ``p_i = sigma_i / sum sigma``
  over the singular values of ``dW`` above rounding level; **top-1 energy share**
  ``sigma_1(dW)^2 / ||dW||_F^2``.
- **heavy tail**: Hill's estimator on the eigenvalues ``lambda = sigma(W)^2`` of ``W^T W``, with the
  top ``k = tail_fraction * n`` order statistics: ``xi = mean(log lambda_(1..k)) - log lambda_(k+1)``,
  reported as the density exponent ``alpha = 1 + 1 / xi`` (the scale of WeightWatcher's alpha,
  ``p(lambda) ~ lambda^-alpha``; WeightWatcher picks its tail by a KS fit instead, so values are
  comparable, not identical). **stable rank** ``||W||_F^2 / sigma_1^2``.
- **trajectory rank-1 explained variance** (RELEX): top eigenvalue over trace of the Gram matrix
  of the stacked, uncentred deltas; **left-vector alignment** ``|cos(u1(dW_t), u1(dW_T))|``.
- Undefined values (an unchanged matrix has no update direction, no rank, no overlap) are NaN in
  the pure functions and ``None`` in the summary models.

Decompositions (``method``): ``"full"`` is LAPACK's SVD, accurate to ``~eps sigma_1`` in values
and ``eps sigma_1 / gap`` in subspaces. ``"gram"`` (the default) takes ``eigh`` of the smaller of
``W^T W``, ``W W^T``, several times faster; squaring costs accuracy: ``sigma_i`` is off by about
``n eps sigma_1^2 / sigma_i`` and a top-k subspace by ``n eps sigma_1^2 / (sigma_k^2 - sigma_{k+1}^2)``,
below 1e-8 in float64 for weights conditioned better than 1e3, and singular values under
``sqrt(n eps) sigma_1`` count as zero. ``"randomized"`` gets the top-k vectors by seeded subspace
iteration on ``k + oversample`` columns (Halko, Martinsson & Tropp 2011, Alg. 4.4): exact when
the rank is at most that, otherwise the subspace error shrinks like
``(sigma_{k+oversample+1} / sigma_k)^(2 niter + 1)``, which is slow for the flat spectra of LLM
weights at k = 64 (on a random 1024 x 2816 matrix its largest top-64 angle came out 2.8 degrees
against the exact 1.3); full-spectrum metrics then still come from the Gram eigenvalues. It pays
off where only leading directions are needed (``left_vector_alignment``). For scale, one CPU
thread on 1024 x 2816: full 1.5 s, gram 0.26 s, randomized 0.43 s per decomposition with k = 64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from peft_rlvr_bench.adapters.masks import changed_mask
from peft_rlvr_bench.extrapolation.relex import trajectory_gram

SVDMethod = Literal["full", "gram", "randomized"]
SparsityDType = Literal["bfloat16", "float16", "float32", "stored"]


class Decomposition(NamedTuple):
    """The full spectrum (descending, rounding-level values set to 0) and orthonormal bases of the
    top-k left (``U``, out x k) and right (``V``, in x k) singular subspaces."""

    S: Tensor
    U: Tensor
    V: Tensor


def decompose(
    W: Tensor,
    k: int,
    method: SVDMethod = "gram",
    *,
    niter: int = 6,
    oversample: int = 32,
    full_spectrum: bool = True,
) -> Decomposition:
    """The spectrum and top-``k`` singular subspaces of a 2-D ``W`` in float64 (see the module
    docstring for each method's error). ``k`` is capped at ``min(shape)``; ``k = 0`` gives no vectors.

    ``full_spectrum=False`` lets the randomized method skip the Gram eigenvalues and return only
    its top-k singular values, for callers that need just the leading directions.
    """
    if W.ndim != 2:
        raise ValueError(f"expected a 2-D weight, got shape {tuple(W.shape)}")
    if method not in ("full", "gram", "randomized"):
        raise ValueError(f"method must be 'full', 'gram' or 'randomized', got {method!r}")
    M = W.detach().to(torch.float64)
    k = min(k, *M.shape)
    wide = M.shape[0] < M.shape[1]
    if method == "full":
        if k:
            U, values, Vh = torch.linalg.svd(M, full_matrices=False)
        else:
            values, U, Vh = torch.linalg.svdvals(M), M[:, :0], M[:0]
        tolerance = max(M.shape) * torch.finfo(torch.float64).eps * values[0]
        return Decomposition(torch.where(values > tolerance, values, 0.0), U[:, :k], Vh[:k].T)
    if method == "randomized" and k and not full_spectrum:
        S, top = _randomized_top(M.T if wide else M, k, niter, oversample)
    else:
        small = M @ M.T if wide else M.T @ M
        if method == "gram" and k:
            eigenvalues, eigenvectors = torch.linalg.eigh(small)
            top = eigenvectors.flip(1)[:, :k]
        else:
            eigenvalues = torch.linalg.eigvalsh(small)
            top = _randomized_top(M.T if wide else M, k, niter, oversample)[1] if k else small[:, :0]
        eigenvalues = eigenvalues.flip(0)
        tolerance = small.shape[0] * torch.finfo(torch.float64).eps * eigenvalues[0]
        S = torch.where(eigenvalues > tolerance, eigenvalues, 0.0).sqrt()
    # M @ top spans the other side's top-k subspace (M v_i = sigma_i u_i); QR makes it orthonormal.
    other = torch.linalg.qr((M if not wide else M.T) @ top).Q
    return Decomposition(S, top, other) if wide else Decomposition(S, other, top)


def _randomized_top(M: Tensor, k: int, niter: int, oversample: int) -> tuple[Tensor, Tensor]:
    """Top-``k`` singular values and an orthonormal basis of the top-``k`` right singular subspace
    of ``M`` (rows >= columns), by subspace iteration from a fixed seed, so results do not depend
    on the global RNG (``torch.svd_lowrank`` draws from it)."""
    q = min(k + oversample, M.shape[1])
    generator = torch.Generator(device=M.device).manual_seed(0)
    probe = torch.randn(M.shape[1], q, generator=generator, dtype=M.dtype, device=M.device)
    basis = torch.linalg.qr(M @ probe).Q
    for _ in range(niter):
        basis = torch.linalg.qr(M @ torch.linalg.qr(M.T @ basis).Q).Q
    _, S, Vh = torch.linalg.svd(basis.T @ M, full_matrices=False)
    return S[:k], Vh[:k].T


def unchanged_mask(
    base: Tensor, tuned: Tensor, dtype: torch.dtype | None = torch.bfloat16, rtol: float | None = None
) -> Tensor:
    """Coordinates whose value stored as ``dtype`` (``None``: the base's dtype) did not change:
    bitwise, or with ``rtol`` the paper's ``|a - b| <= rtol max(|a|, |b|)``."""
    dtype = base.dtype if dtype is None else dtype
    if rtol is None:
        return ~changed_mask(base, tuned, dtype)
    a = base.detach().to(dtype).to(torch.float64)
    b = tuned.detach().to(device=base.device, dtype=dtype).to(torch.float64)
    return (a - b).abs() <= rtol * torch.maximum(a.abs(), b.abs())


def update_sparsity(
    base: Tensor, tuned: Tensor, dtype: torch.dtype | None = torch.bfloat16, rtol: float | None = None
) -> float:
    """Fraction of coordinates left unchanged (see :func:`unchanged_mask`); 1.0 for an empty tensor."""
    mask = unchanged_mask(base, tuned, dtype, rtol)
    return float(mask.sum()) / mask.numel() if mask.numel() else 1.0


def spectral_shift(S_base: Tensor, S_tuned: Tensor) -> float:
    """``||sigma(W+) - sigma(W0)|| / ||sigma(W0)||`` from two full spectra, both descending."""
    return float(torch.linalg.vector_norm(S_tuned - S_base) / torch.linalg.vector_norm(S_base))


def principal_angles(A: Tensor, B: Tensor) -> Tensor:
    """Principal angles (radians, ascending) between the spans of orthonormal ``A`` and ``B`` (n x k).

    ``cos theta_i = sigma_i(A^T B)``; the sines are the singular values of ``B - A A^T B``, in the
    reverse order. Small angles are read from the sine, large ones from the cosine.
    """
    C = A.T @ B
    cos = torch.linalg.svdvals(C).clamp(0.0, 1.0)
    sin = torch.linalg.svdvals(B - A @ C).flip(0).clamp(0.0, 1.0)
    return torch.where(cos * cos < 0.5, torch.arccos(cos), torch.arcsin(sin))


def rank_k_reconstruction(decomposition: Decomposition, W: Tensor) -> Tensor:
    """``U U^T W V V^T``, the best rank-k approximation of ``W`` from its top-k bases (float64)."""
    U, V = decomposition.U, decomposition.V
    return U @ ((U.T @ W.detach().to(torch.float64)) @ V) @ V.T


def top_fraction_mask(scores: Tensor, fraction: float) -> Tensor:
    """Exactly ``round(fraction * numel)`` True at the largest scores, ties to the lower flat index,
    as ``adapters.masks`` builds ``M_princ``."""
    flat = scores.detach().reshape(-1).to(torch.float64)
    mask = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    mask[torch.argsort(flat, descending=True, stable=True)[: round(fraction * flat.numel())]] = True
    return mask.reshape(scores.shape)


def mask_overlap(changed: Tensor, region: Tensor) -> tuple[float, float]:
    """``(|changed & region| / |changed|, |region| / numel)``: the overlap and its random baseline.

    The baseline is the exact expectation of the overlap when ``changed`` is a uniformly random
    subset of its size (hypergeometric mean). The overlap is NaN when nothing changed.
    """
    n_changed = int(changed.sum())
    overlap = int((changed & region).sum()) / n_changed if n_changed else math.nan
    return overlap, int(region.sum()) / region.numel()


def frame_energy(delta: Tensor, U: Tensor, V: Tensor) -> float:
    """``||U U^T dW V V^T||_F^2 / ||dW||_F^2`` for orthonormal ``U``, ``V``; NaN for ``dW = 0``."""
    total = float(torch.linalg.matrix_norm(delta) ** 2)
    return float(torch.linalg.matrix_norm(U.T @ delta @ V) ** 2) / total if total else math.nan


def frame_energy_baseline(shape: Sequence[int], k: int) -> float:
    """``k_out k_in / (out in)`` (k capped per side): :func:`frame_energy`'s random expectation."""
    out_features, in_features = shape
    return min(k, out_features) * min(k, in_features) / (out_features * in_features)


def effective_rank(S: Tensor) -> float:
    """Roy-Vetterli effective rank ``exp(-sum p log p)``, ``p = sigma / sum sigma``; NaN if all zero."""
    S = S[S > 0]
    if not S.numel():
        return math.nan
    p = S / S.sum()
    return float(torch.exp(-(p * p.log()).sum()))


def top1_energy_share(S: Tensor) -> float:
    """``sigma_1^2 / sum sigma_i^2`` (= ``sigma_1^2 / ||dW||_F^2``); NaN for a zero matrix."""
    total = float((S * S).sum())
    return float(S.max() ** 2) / total if total else math.nan


def stable_rank(S: Tensor) -> float:
    """``||W||_F^2 / sigma_1^2`` from the spectrum; NaN for a zero matrix."""
    top = float(S.max()) if S.numel() else 0.0
    return float((S * S).sum()) / top**2 if top else math.nan


def hill_alpha(S: Tensor, tail_fraction: float = 0.1) -> float:
    """Hill estimate of the power-law density exponent of the upper tail of ``sigma^2``.

    Uses the ``k = max(1, floor(tail_fraction * n))`` largest of the n nonzero eigenvalues; inf
    for a flat tail (no power law), NaN with fewer than two nonzero eigenvalues.
    """
    eigenvalues = torch.sort((S[S > 0]) ** 2, descending=True).values
    n = eigenvalues.numel()
    if n < 2:
        return math.nan
    k = min(n - 1, max(1, math.floor(tail_fraction * n)))
    xi = float(eigenvalues[:k].log().mean() - eigenvalues[k].log())
    return 1.0 + 1.0 / xi if xi > 0 else math.inf


def trajectory_explained_variance(base: Tensor, weights: Sequence[Tensor]) -> float:
    """RELEX's rank-1 explained variance of one tensor's trajectory: ``sigma_1^2 / sum sigma_i^2`` of
    ``M`` (row t = ``weights[t] - base`` flattened, not centred), from the T x T Gram matrix; any
    shape; NaN when nothing moved."""
    gram = trajectory_gram(base, weights)
    trace = float(gram.trace())
    return float(torch.linalg.eigvalsh(gram)[-1]) / trace if trace > 0 else math.nan


def left_vector_alignment(
    base: Tensor, weights: Sequence[Tensor], method: SVDMethod = "gram", **options: int
) -> list[float]:
    """``|cos(u1(dW_t), u1(dW_T))|`` for each checkpoint t against the last one T (2-D tensors).

    ``u1`` is the top left singular vector of ``W_t - W0`` (its sign is arbitrary, hence ``|cos|``);
    NaN where a delta is zero. ``options`` go to :func:`decompose` (``niter``, ``oversample``).
    """
    firsts: list[Tensor | None] = []
    for weight in weights:
        delta = weight.detach().to(device=base.device, dtype=torch.float64) - base.detach().to(torch.float64)
        moved = bool(torch.any(delta))
        firsts.append(decompose(delta, 1, method, full_spectrum=False, **options).U[:, 0] if moved else None)
    last = firsts[-1]
    return [math.nan if u is None or last is None else float((u @ last).abs()) for u in firsts]


# --------------------------------------------------------------------------------------------
# Per-matrix metrics and the streaming summary.
