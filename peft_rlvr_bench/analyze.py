"""``prb analyze``: the weight geometry of a tuned checkpoint against its base (``docs/methods.md``).

Inputs are any Hugging Face checkpoint directories (safetensors, single file or sharded) and, for
the tuned side, PEFT adapter directories too, merged onto the base first into a temporary plain
checkpoint (the helpers ``prb extrapolate`` uses). Tensors are streamed one name at a time with
``safe_open``: memory holds one base tensor and its tuned counterpart, never two whole models.
Every tensor of the base must be in the tuned checkpoint with the base's shape; tensors only the
tuned one has are listed and left out.

A harness trajectory directory adds, per tensor, RELEX's rank-1 explained variance of the
trajectory and the alignment of each record's top left singular vector with the last one's
(``geometry/trajectory.py``). A run's result holds the same summary of its merged model against
W0 (``geometry/model.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.geometry.summary import GeometryParams, GeometrySummary, GroupGeometry, summarise
from peft_rlvr_bench.geometry.trajectory import TrajectoryGeometry, TrajectoryGroup, trajectory_geometry
from peft_rlvr_bench.safetensors_io import open_safetensors, read_tensor

if TYPE_CHECKING:
    from torch import Tensor

    from peft_rlvr_bench.trajectory import Trajectory


class Analysis(BaseModel):
    """What ``prb analyze --json`` writes: the inputs, the full geometry summary, the trajectory's."""

    model_config = ConfigDict(frozen=True)

    base: str
    tuned: str
    tuned_kind: Literal["checkpoint", "peft"] = Field(description="peft: an adapter merged onto the base")
    trajectory: str | None = None
    only_in_tuned: list[str] = Field(description="tensors of --tuned that the base lacks, left out")
    geometry: GeometrySummary
    trajectory_geometry: TrajectoryGeometry | None = None


# Inputs --------------------------------------------------------------------------------------


def check_json_path(path: Path) -> None:
    """Raises UserError unless ``path`` can become a file (checked before any work is done)."""
    if path.is_dir():
        raise UserError(f"--json {path}: is a directory; pass a file path such as {path / 'geometry.json'}")
    existing = next(parent for parent in path.absolute().parents if parent.exists())
    if not existing.is_dir():
        raise UserError(f"--json {path}: {existing} is a file, not a directory; choose another path")


def _check_dir(flag: str, path: Path, what: str) -> None:
    if not path.is_dir():
        raise UserError(f"{flag} {path}: not a directory; pass {what}")


def _check_device(device: str) -> None:
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise UserError(f"--device {device!r}: not a torch device; use cpu or cuda (cuda:N)") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available here; use --device cpu")


def _open_trajectory(directory: Path) -> Trajectory:
    from peft_rlvr_bench.trajectory import Trajectory

    _check_dir("--trajectory", directory, "a harness trajectory directory (with manifest.json)")
    try:
        trajectory = Trajectory(directory)
    except ValueError as exc:
        raise UserError(f"--trajectory {directory}: {exc}".splitlines()[0]) from None
    if not any(update > 0 for update in trajectory.updates):
        raise UserError(f"--trajectory {directory}: has no record after update 0; record at least one update")
    return trajectory


def _trajectory_names(trajectory: Trajectory, base_files: Mapping[str, Path]) -> list[str]:
    from peft_rlvr_bench.trajectory import effective_weight_names, rebuilds_per_tensor

    where = f"--trajectory {trajectory.directory}"
    try:
        if not rebuilds_per_tensor(trajectory):
            raise NotImplementedError("its method's weights are rebuilt only as whole models through peft")
        names = effective_weight_names(trajectory)
    except NotImplementedError as exc:
        raise UserError(
            f"{where}: {exc}".splitlines()[0] + "; analyze supports LoRA-factor and delta trajectories"
        ) from None
    missing = [name for name in names if name not in base_files]
    if missing:
        raise UserError(
            f"{where}: {missing[0]} is not a tensor of --base ({len(missing)} missing); "
            "pass the base the run started from"
        )
    return names


class _Reader:
    """One open ``safe_open`` handle per file, for reading tensors by name."""

    def __init__(self, stack: ExitStack, device: str) -> None:
        self.stack, self.device = stack, device
        self.handles: dict[Path, Any] = {}

    def _handle(self, path: Path) -> Any:
        if path not in self.handles:
            self.handles[path] = self.stack.enter_context(open_safetensors(path))
        return self.handles[path]

    def shape(self, path: Path, name: str) -> tuple[int, ...]:
        return tuple(self._handle(path).get_slice(name).get_shape())

    def tensor(self, path: Path, name: str) -> Tensor:
        return read_tensor(self._handle(path), path, name).to(self.device)


def _merged(base_dir: Path, adapter_dir: Path, out: Path) -> Path:
    from peft_rlvr_bench.extrapolation.checkpoints import merged_copy

    try:
        return merged_copy(base_dir, adapter_dir, out)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        first = next(iter(str(exc).splitlines()), type(exc).__name__)[:300]
        raise UserError(
            f"--tuned {adapter_dir}: cannot merge the PEFT adapter onto --base {base_dir} ({first}); "
            "pass the base model the adapter was trained on"
        ) from None


def _matched(
    base_files: Mapping[str, Path],
    tuned_dir: Path,
    tuned_files: Mapping[str, Path],
    reader: _Reader,
) -> tuple[list[str], list[str]]:
    """Base tensor names to compare, and the tuned-only names; raises on a missing or reshaped one."""
    missing = [name for name in base_files if name not in tuned_files]
    if missing:
        raise UserError(
            f"--tuned {tuned_dir}: lacks {len(missing)} tensor(s) of the base, e.g. {missing[0]}; "
            "pass a checkpoint of the same model as --base"
        )
    for name, path in base_files.items():
        base_shape, tuned_shape = reader.shape(path, name), reader.shape(tuned_files[name], name)
        if base_shape != tuned_shape:
            raise UserError(
                f"--tuned {tuned_dir}: {name} has shape {tuned_shape}, the base {base_shape}; "
                "pass a checkpoint of the base's architecture"
            )
    return list(base_files), sorted(set(tuned_files) - set(base_files))


# Analysis ------------------------------------------------------------------------------------


def analyze_dirs(
    base_dir: Path,
    tuned_dir: Path,
    trajectory_dir: Path | None = None,
    params: GeometryParams | None = None,
    device: str = "cpu",
) -> Analysis:
    """The geometry of ``tuned_dir`` (HF checkpoint or PEFT adapter) against ``base_dir``.

    Raises UserError naming the directory, the tensor and the fix for any bad input, before the
    geometry work starts (a PEFT adapter is merged first, which loads one whole model).
    """
    import tempfile

    from peft_rlvr_bench.extrapolation.checkpoints import tensor_files

    params = params or GeometryParams()
    _check_dir("--base", base_dir, "the base model's Hugging Face directory")
    if (base_dir / "adapter_config.json").exists():
        raise UserError(
            f"--base {base_dir}: is a PEFT adapter directory; "
            "pass its base model as --base and the adapter as --tuned"
        )
    _check_dir("--tuned", tuned_dir, "a Hugging Face checkpoint or PEFT adapter directory")
    _check_device(device)
    trajectory = _open_trajectory(trajectory_dir) if trajectory_dir is not None else None
    base_files = tensor_files(base_dir)
    trajectory_names = _trajectory_names(trajectory, base_files) if trajectory is not None else []
    peft = (tuned_dir / "adapter_config.json").exists()
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        plain = _merged(base_dir, tuned_dir, Path(scratch) / "merged") if peft else tuned_dir
        tuned_files = tensor_files(plain)
        reader = _Reader(stack, device)
        names, only_in_tuned = _matched(base_files, tuned_dir, tuned_files, reader)
        pairs = (
            (name, reader.tensor(base_files[name], name), reader.tensor(tuned_files[name], name))
            for name in names
        )
        summary = summarise(pairs, params)
        trajectory_summary = None
        if trajectory is not None:

            def base_of(name: str) -> Tensor:
                return reader.tensor(base_files[name], name)

            try:
                trajectory_summary = trajectory_geometry(trajectory, trajectory_names, base_of, params)
            except ValueError as exc:
                raise UserError(f"--trajectory {trajectory.directory}: {exc}".splitlines()[0]) from None
    return Analysis(
        base=str(base_dir),
        tuned=str(tuned_dir),
        tuned_kind="peft" if peft else "checkpoint",
        trajectory=None if trajectory_dir is None else str(trajectory_dir),
        only_in_tuned=only_in_tuned,
        geometry=summary,
        trajectory_geometry=trajectory_summary,
    )


# Rendering -----------------------------------------------------------------------------------


def _cell(value: float | None, spec: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, spec)


def _geometry_cells(group: GroupGeometry, ks: Sequence[int]) -> list[str]:
    means = group.means
    princ, baseline = means.get("princ_overlap"), means.get("princ_baseline")
    return [
        str(group.tensors),
        _cell(group.update_sparsity, ".1f", 100.0),
        _cell(means.get("top1_energy_share"), ".3f"),
        _cell(means.get("update_effective_rank"), ".1f"),
        _cell(means.get("spectral_shift"), ".3g"),
        *(_cell(means.get(f"principal_angle_left_deg@{k}"), ".1f") for k in ks),
        "-" if princ is None else f"{princ:.2f}/{_cell(baseline, '.2f')}",
    ]


def _trajectory_cells(group: TrajectoryGroup | None) -> list[str]:
    if group is None:
        return ["-", "-"]
    return [_cell(group.explained_variance, ".3f"), _cell(group.left_alignment_first, ".3f")]


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]


def render_analysis(analysis: Analysis) -> str:
    """A compact table for the terminal: the inputs, the headline row, one row per layer type."""
    summary, traj = analysis.geometry, analysis.trajectory_geometry
    ks = summary.params.ks
    merged = " (PEFT adapter, merged onto the base)" if analysis.tuned_kind == "peft" else ""
    tuned = analysis.tuned + merged
    lines = [f"base:  {analysis.base}", f"tuned: {tuned}"]
    if analysis.trajectory is not None and traj is not None:
        lines.append(f"trajectory: {analysis.trajectory} (updates {traj.updates})")
    matrices = summary.headline.tensors
    compared = f"{len(summary.tensors)} tensors compared, {matrices} of them block matrices"
    if analysis.only_in_tuned:
        compared += f"; {len(analysis.only_in_tuned)} only in --tuned left out"
    lines.append(compared)
    sparsity = summary.params.sparsity_dtype
    test = "bitwise" if summary.params.rtol is None else f"rtol {summary.params.rtol:g}"
    overall = _cell(summary.update_sparsity_all, ".2f", 100.0)
    blocks = _cell(summary.headline.update_sparsity, ".2f", 100.0)
    lines += [
        f"update sparsity ({sparsity}, {test}): {overall}% of all coordinates unchanged, "
        f"{blocks}% of block-matrix ones",
        "",
    ]
    header = ["layer type", "n", "unchanged%", "top1", "eff.rank", "spec.shift"]
    header += [f"angle@{k}" for k in ks] + ["princ/rand"]
    header += ["traj.EV", "align"] if traj is not None else []
    rows = [header]
    groups = [("all", summary.headline), *summary.by_layer_type.items()]
    for name, group in groups:
        row = [name, *_geometry_cells(group, ks)]
        if traj is not None:
            row += _trajectory_cells(traj.headline if name == "all" else traj.by_layer_type.get(name))
        rows.append(row)
    lines += _aligned(rows)
    lines += [
        "",
        "means over block matrices. top1: sigma1(dW)^2 / ||dW||_F^2; eff.rank: of dW; spec.shift: "
        "||sigma(W+) - sigma(W0)|| / ||sigma(W0)||; angle@k: largest principal angle (deg) between the "
        "top-k left singular subspaces of W0 and W+; princ/rand: share of changed coordinates in M_princ "
        "/ its random baseline"
        + (
            "; traj.EV: rank-1 explained variance of the trajectory; align: |cos| of the top left singular "
            "vector of the first record's update with the last one's"
            if traj is not None
            else ""
        ),
    ]
    return "\n".join(lines)


def write_analysis(analysis: Analysis, path: Path) -> None:
    """Writes the full analysis as JSON, atomically."""
    from peft_rlvr_bench.reporting.results import write_text_atomic

    write_text_atomic(path, analysis.model_dump_json(indent=1) + "\n")
