"""The geometry of a whole model: one record per tensor, summarised per layer type, per depth and
over every block matrix (``summarise``), streamed one tensor at a time."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt
from torch import Tensor

from peft_rlvr_bench.adapters.masks import low_magnitude_mask
from peft_rlvr_bench.architecture import is_block_matrix
from peft_rlvr_bench.geometry.maths import (
    Decomposition,
    SparsityDType,
    SVDMethod,
    decompose,
    effective_rank,
    frame_energy,
    frame_energy_baseline,
    hill_alpha,
    mask_overlap,
    principal_angles,
    rank_k_reconstruction,
    spectral_shift,
    stable_rank,
    top1_energy_share,
    top_fraction_mask,
    unchanged_mask,
)


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
