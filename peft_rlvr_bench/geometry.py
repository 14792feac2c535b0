"""Weight-geometry diagnostics: a tuned weight against its base ``W0`` (METHODS.md §3).

Pure functions on tensors, plus :func:`summarise`, which streams ``(name, W0, W+)`` pairs one
tensor at a time and aggregates per layer type, per depth and over the whole model. ``W+`` is
the *effective* tuned weight (a LoRA merged in, a PiSSA residual plus its adapter), always
compared with the original ``W0``, never a residual. All math is float64 on ``W0``'s device;
``dW = W+ - W0`` is taken from the values as stored, so bf16 rounding is part of the update.

Definitions, where METHODS.md leaves a choice open (arXiv 2511.08567, 2605.06523 otherwise):

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
import re
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from torch import Tensor

from peft_rlvr_bench.adapters.masks import changed_mask, low_magnitude_mask
from peft_rlvr_bench.architecture import is_block_matrix
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


class GeometryParams(BaseModel):
    """Choices behind a summary; stored with it, so a number says how it was computed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ks: tuple[PositiveInt, ...] = Field((16, 64), description="ranks of the compared subspaces")
    mask_k: int = Field(16, gt=0, description="rank of the reconstruction that defines M_princ")
    alpha: float = Field(0.5, ge=0, le=1, description="fraction taken by M_princ and by M_low")
    sparsity_dtype: SparsityDType = Field("bfloat16", description="storage dtype compared bitwise")
    rtol: float | None = Field(None, ge=0, description="None: bitwise; else the relative test")
    method: SVDMethod = Field("gram", description="decomposition: full, gram or randomized")
    niter: int = Field(6, ge=0, description="subspace iterations of the randomized method")
    oversample: int = Field(32, ge=0, description="extra columns of the randomized method")
    tail_fraction: float = Field(0.1, gt=0, le=1, description="share of eigenvalues in Hill's tail")


class MatrixGeometry(BaseModel):
    """Matrix metrics of one block matrix; per-k dicts are keyed by the requested k."""

    model_config = ConfigDict(frozen=True)

    spectral_shift: float | None
    principal_angle_left_deg: dict[int, float | None]
    principal_angle_right_deg: dict[int, float | None]
    princ_overlap: float | None
    princ_baseline: float | None
    low_overlap: float | None
    low_baseline: float | None
    frame_energy: dict[int, float | None]
    frame_energy_baseline: dict[int, float | None]
    update_effective_rank: float | None
    top1_energy_share: float | None
    hill_alpha_base: float | None
    hill_alpha_tuned: float | None
    stable_rank_base: float | None
    stable_rank_tuned: float | None

    def flat(self) -> dict[str, float | None]:
        """One level of ``name -> value``, per-k entries as ``name@k``, for aggregation."""
        out: dict[str, float | None] = {}
        for key, value in self.model_dump().items():
            if isinstance(value, dict):
                out.update({f"{key}@{k}": v for k, v in value.items()})
            else:
                out[key] = value
        return out


class TensorGeometry(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    layer_type: str
    depth: int | None
    shape: tuple[int, ...]
    numel: int
    changed: int
    update_sparsity: float
    matrix: MatrixGeometry | None = Field(None, description="None unless a 2-D block matrix")


class GroupGeometry(BaseModel):
    """Aggregate over a set of tensors: sparsity pooled (weighted by numel), other metrics the
    plain mean over the matrices where they are defined (None where none is)."""

    model_config = ConfigDict(frozen=True)

    tensors: int
    numel: int
    update_sparsity: float | None
    means: dict[str, float | None]


class GeometrySummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    params: GeometryParams
    headline: GroupGeometry = Field(description="over every block matrix")
    update_sparsity_all: float | None = Field(description="pooled over every tensor, 1-D ones included")
    by_layer_type: dict[str, GroupGeometry]
    by_depth: dict[int, GroupGeometry]
    tensors: list[TensorGeometry]


def matrix_geometry(base: Tensor, tuned: Tensor, changed: Tensor, params: GeometryParams) -> MatrixGeometry:
    """Every matrix metric of one block matrix, sharing one decomposition of each of W0, W+, dW.

    ``changed`` is the stored-dtype changed mask (the complement of :func:`unchanged_mask`).
    """
    W0 = base.detach().to(torch.float64)
    W1 = tuned.detach().to(device=base.device, dtype=torch.float64)
    delta = W1 - W0
    options = {"niter": params.niter, "oversample": params.oversample}
    k_max = max((*params.ks, params.mask_k))
    d0 = decompose(W0, k_max, params.method, **options)
    d1 = decompose(W1, max(params.ks, default=0), params.method, **options)
    dd = decompose(delta, 0, params.method, **options)

    left: dict[int, float | None] = {}
    right: dict[int, float | None] = {}
    energy: dict[int, float | None] = {}
    for k in params.ks:
        kk = min(k, *W0.shape)
        left[k] = _finite(math.degrees(float(principal_angles(d0.U[:, :kk], d1.U[:, :kk]).max())))
        right[k] = _finite(math.degrees(float(principal_angles(d0.V[:, :kk], d1.V[:, :kk]).max())))
        energy[k] = _finite(frame_energy(delta, d0.U[:, :kk], d0.V[:, :kk]))
    mk = min(params.mask_k, *W0.shape)
    principal = top_fraction_mask(
        rank_k_reconstruction(Decomposition(d0.S, d0.U[:, :mk], d0.V[:, :mk]), W0).abs(), params.alpha
    )
    princ_overlap, princ_baseline = mask_overlap(changed, principal)
    low_overlap, low_baseline = mask_overlap(changed, low_magnitude_mask(W0, params.alpha))
    return MatrixGeometry(
        spectral_shift=_finite(spectral_shift(d0.S, d1.S)),
        principal_angle_left_deg=left,
        principal_angle_right_deg=right,
        princ_overlap=_finite(princ_overlap),
        princ_baseline=princ_baseline,
        low_overlap=_finite(low_overlap),
        low_baseline=low_baseline,
        frame_energy=energy,
        frame_energy_baseline={k: frame_energy_baseline(W0.shape, k) for k in params.ks},
        update_effective_rank=_finite(effective_rank(dd.S)),
        top1_energy_share=_finite(top1_energy_share(dd.S)),
        hill_alpha_base=_finite(hill_alpha(d0.S, params.tail_fraction)),
        hill_alpha_tuned=_finite(hill_alpha(d1.S, params.tail_fraction)),
        stable_rank_base=_finite(stable_rank(d0.S)),
        stable_rank_tuned=_finite(stable_rank(d1.S)),
    )


def summarise(
    pairs: Iterable[tuple[str, Tensor, Tensor]], params: GeometryParams | None = None
) -> GeometrySummary:
    """Streams ``(name, W0, W+)`` and returns per-tensor metrics and their aggregates.

    One pair is held at a time, so peak memory is one tensor (plus its float64 copies). Every
    tensor gets its update sparsity; only 2-D block matrices (``is_block_matrix``: no embeddings,
    no LM head) get matrix metrics. Layer type is the module name (``q_proj``, ``down_proj``, ...),
    depth the N of ``layers.N.``.
    """
    params = params or GeometryParams()
    dtype = None if params.sparsity_dtype == "stored" else getattr(torch, params.sparsity_dtype)
    records: list[TensorGeometry] = []
    for name, base, tuned in pairs:
        if base.shape != tuned.shape:
            raise ValueError(
                f"{name}: tuned shape {tuple(tuned.shape)} differs from the base's {tuple(base.shape)}"
            )
        changed = ~unchanged_mask(base, tuned, dtype, params.rtol)
        n_changed = int(changed.sum())
        records.append(
            TensorGeometry(
                name=name,
                layer_type=layer_type(name),
                depth=layer_index(name),
                shape=tuple(base.shape),
                numel=base.numel(),
                changed=n_changed,
                update_sparsity=1.0 - n_changed / base.numel() if base.numel() else 1.0,
                matrix=matrix_geometry(base, tuned, changed, params) if is_block_matrix(name, base) else None,
            )
        )
    matrices = [r for r in records if r.matrix is not None]
    by_type: dict[str, list[TensorGeometry]] = {}
    by_depth: dict[int, list[TensorGeometry]] = {}
    for record in matrices:
        by_type.setdefault(record.layer_type, []).append(record)
        if record.depth is not None:
            by_depth.setdefault(record.depth, []).append(record)
    return GeometrySummary(
        params=params,
        headline=_group(matrices),
        update_sparsity_all=_group(records).update_sparsity,
        by_layer_type={key: _group(group) for key, group in sorted(by_type.items())},
        by_depth={key: _group(group) for key, group in sorted(by_depth.items())},
        tensors=records,
    )


def layer_type(name: str) -> str:
    """The module a parameter belongs to: ``...self_attn.q_proj.weight`` -> ``q_proj``."""
    parts = [part for part in name.split(".") if part not in ("weight", "bias", "base_layer")]
    return parts[-1] if parts else name


_DEPTH = re.compile(r"(?:^|\.)layers\.(\d+)(?:\.|$)")


def layer_index(name: str) -> int | None:
    """The block index N of ``layers.N.`` in a parameter name, None outside the blocks."""
    match = _DEPTH.search(name)
    return int(match.group(1)) if match else None


def _group(records: Sequence[TensorGeometry]) -> GroupGeometry:
    numel = sum(r.numel for r in records)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for record in records:
        for key, value in (record.matrix.flat() if record.matrix else {}).items():
            counts.setdefault(key, 0)
            if value is not None:
                sums[key] = sums.get(key, 0.0) + value
                counts[key] += 1
    return GroupGeometry(
        tensors=len(records),
        numel=numel,
        update_sparsity=1.0 - sum(r.changed for r in records) / numel if numel else None,
        means={key: sums[key] / n if n else None for key, n in counts.items()},
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
