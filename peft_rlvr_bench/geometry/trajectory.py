"""Trajectory geometry: how a run's weights moved between records, per tensor and per layer type
(RELEX's rank-1 explained variance, the alignment of each record's top left singular vector)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor

from peft_rlvr_bench.architecture import is_block_matrix
from peft_rlvr_bench.geometry.maths import left_vector_alignment, trajectory_explained_variance
from peft_rlvr_bench.geometry.summary import GeometryParams, layer_index, layer_type
from peft_rlvr_bench.trajectory import Trajectory, effective_series


class TrajectoryTensor(BaseModel):
    """One tensor's trajectory metrics over the records after update 0."""

    model_config = ConfigDict(frozen=True)

    name: str
    layer_type: str
    depth: int | None
    explained_variance: float | None = Field(description="rank-1 share of the stacked deltas (RELEX)")
    left_alignment: dict[int, float | None] | None = Field(
        description="update -> |cos(u1(dW_t), u1(dW_T))|; block matrices only"
    )


class TrajectoryGroup(BaseModel):
    """Means over the block matrices of a group (None where no matrix defines the value)."""

    model_config = ConfigDict(frozen=True)

    tensors: int
    explained_variance: float | None
    left_alignment_first: float | None = Field(description="alignment of the first record with the last")
    left_alignment: dict[int, float | None] = Field(description="update -> mean alignment")


class TrajectoryGeometry(BaseModel):
    model_config = ConfigDict(frozen=True)

    updates: list[int] = Field(description="the records used: every one after update 0")
    headline: TrajectoryGroup = Field(description="over every block matrix")
    by_layer_type: dict[str, TrajectoryGroup]
    tensors: list[TrajectoryTensor]


def trajectory_geometry(
    trajectory: Trajectory,
    names: Sequence[str],
    base: Callable[[str], Tensor],
    params: GeometryParams | None = None,
) -> TrajectoryGeometry:
    """Trajectory metrics of every tensor in ``names`` over the records after update 0.

    ``base`` loads W0 by name. One tensor's trajectory is in memory at a time. Update 0 is left
    out: its delta is zero, so it adds nothing to the explained variance and has no direction.
    """
    params = params or GeometryParams()
    updates = [update for update in trajectory.updates if update > 0]
    records: list[TrajectoryTensor] = []
    matrices: list[TrajectoryTensor] = []
    for name in names:
        w0 = base(name)
        series = effective_series(trajectory, {name: w0}, name)  # ValueError: records and W0 disagree
        weights = [weight for update, weight in series if update > 0]
        alignment = None
        if is_block_matrix(name, w0):
            values = left_vector_alignment(
                w0, weights, params.method, niter=params.niter, oversample=params.oversample
            )
            alignment = {update: _finite(value) for update, value in zip(updates, values, strict=True)}
        record = TrajectoryTensor(
            name=name,
            layer_type=layer_type(name),
            depth=layer_index(name),
            explained_variance=_finite(trajectory_explained_variance(w0, weights)),
            left_alignment=alignment,
        )
        records.append(record)
        if alignment is not None:
            matrices.append(record)
    by_type: dict[str, list[TrajectoryTensor]] = {}
    for record in matrices:
        by_type.setdefault(record.layer_type, []).append(record)
    return TrajectoryGeometry(
        updates=updates,
        headline=_trajectory_group(matrices, updates),
        by_layer_type={key: _trajectory_group(group, updates) for key, group in sorted(by_type.items())},
        tensors=records,
    )


def _trajectory_group(records: Sequence[TrajectoryTensor], updates: Sequence[int]) -> TrajectoryGroup:
    alignment = {update: _mean([(r.left_alignment or {}).get(update) for r in records]) for update in updates}
    return TrajectoryGroup(
        tensors=len(records),
        explained_variance=_mean([r.explained_variance for r in records]),
        left_alignment_first=alignment[updates[0]] if updates else None,
        left_alignment=alignment,
    )


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [value for value in values if value is not None]
    return sum(kept) / len(kept) if kept else None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
