"""The claims report's plots: where RLVR's and SFT's updates go, layer by layer and in the spectrum.

``layers`` reads only the result files (each trained run's geometry summary). ``spectra`` needs
weights: it reads one matrix from the saved safetensors files of the base model and of the two
full runs (``outputs/<suite>/<run_id>/final``) through the small readers below, never through the
runner, the model loaders or the adapters. When any of them is absent (a fresh clone with
committed results, or a base that would first have to be built or downloaded), the plot already
in the results folder is kept as it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peft_rlvr_bench.paths import final_dir
from peft_rlvr_bench.reporting.claims import LAYERS_PLOT, SPECTRA_PLOT
from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import mean

if TYPE_CHECKING:
    from torch import Tensor

RL, SFT = "full", "full-sft"
SPECTRUM_MATRIX = "model.layers.{layer}.mlp.down_proj.weight"
TINY_MODEL = "tiny"


def claims_plots(suite_dir: Path, base: RunResult, runs: Sequence[RunResult]) -> list[Path]:
    """Writes the plots it can into ``suite_dir`` and returns every claims plot there (new or kept)."""
    written = [
        path for path in (_layers(suite_dir, runs), _spectra(suite_dir, base, runs)) if path is not None
    ]
    kept = suite_dir / SPECTRA_PLOT
    if kept.exists() and kept not in written:
        written.append(kept)
    return written


# Weight readers (pure: paths in, tensors out) -------------------------------------------------


def base_directory(model: Mapping[str, Any] | None) -> Path | None:
    """The directory holding the base model's weights, when they are already on this machine.

    The tiny world's cache entry when it has been built, or the suite's local ``model.path``; None
    otherwise (a plot never builds the world or downloads a model).
    """
    model = model or {}
    if (model.get("name") or TINY_MODEL) == TINY_MODEL:
        from peft_rlvr_bench.world.build import WorldRecipe, world_dir

        directory = world_dir(WorldRecipe.model_validate(model.get("world") or {}))
    elif model.get("path"):
        directory = Path(model["path"])
    else:
        return None
    return directory if any(directory.glob("*.safetensors")) else None


def tensor_names(directory: Path) -> list[str]:
    """Every tensor name in a directory's safetensors files (sharded or not)."""
    from safetensors import safe_open

    names: list[str] = []
    for path in sorted(directory.glob("*.safetensors")):
        with safe_open(path, "pt") as handle:
            names += list(handle.keys())
    return names


def read_tensor(directory: Path, name: str) -> Tensor | None:
    """One tensor from a directory's safetensors files, in float64; None when no file has it."""
    import torch
    from safetensors import safe_open

    for path in sorted(directory.glob("*.safetensors")):
        with safe_open(path, "pt") as handle:
            if name in handle.keys():  # noqa: SIM118 (safe_open has keys(), not __contains__)
                return handle.get_tensor(name).to(torch.float64)
    return None


def spectrum_matrix(names: Sequence[str]) -> str | None:
    """The MLP down-projection of the middle layer, the matrix the spectra plot shows."""
    layers = sum(1 for name in names if name.endswith("mlp.down_proj.weight"))
    return SPECTRUM_MATRIX.format(layer=(layers - 1) // 2) if layers else None


# Plots ----------------------------------------------------------------------------------------


def _pyplot():  # matplotlib.pyplot, imported late: files only, no display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _by_depth(runs: Sequence[RunResult], method: str, key: str) -> dict[int, float]:
    values: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        if run.method != method or run.status != "ok" or not run.geometry:
            continue
        for depth, group in run.geometry.get("by_depth", {}).items():
            value = group.get("update_sparsity") if key == "update_sparsity" else group["means"].get(key)
            if value is not None:
                values[int(depth)].append(value)
    return {depth: mean(v) for depth, v in sorted(values.items())}


def _layers(suite_dir: Path, runs: Sequence[RunResult]) -> Path | None:
    panels = (
        ("update_sparsity", "bf16 weights unchanged (%)", 100.0),
        ("principal_angle_left_deg@16", "largest principal angle, top-16 left (deg)", 1.0),
    )
    series = {(m, key): _by_depth(runs, m, key) for m in (RL, SFT) for key, _, _ in panels}
    if not any(series.values()):
        return None
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    for axis, (key, label, scale) in zip(axes, panels, strict=True):
        for method, name in ((RL, "RLVR (GRPO)"), (SFT, "SFT")):
            points = series[(method, key)]
            if points:
                axis.plot(list(points), [scale * v for v in points.values()], marker="o", label=name)
        axis.set_xlabel("layer")
        axis.set_xticks(sorted({depth for m in (RL, SFT) for depth in series[(m, key)]}))
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("Full fine-tuning at the same rate and updates: where the updates go (mean over seeds)")
    figure.tight_layout()
    path = suite_dir / LAYERS_PLOT
    figure.savefig(path)
    plt.close(figure)
    return path


def _spectra(suite_dir: Path, base: RunResult, runs: Sequence[RunResult]) -> Path | None:
    """Singular values of W0, W_RL and W_SFT for one MLP matrix of seed 0, and those of each update."""
    import torch

    chosen = {
        run.method: run for run in runs if run.method in (RL, SFT) and run.seed == 0 and run.status == "ok"
    }
    base_dir = base_directory(base.spec.get("model"))
    if set(chosen) != {RL, SFT} or base_dir is None:
        return None
    name = spectrum_matrix(tensor_names(base_dir))
    w0 = read_tensor(base_dir, name) if name is not None else None
    tuned = {
        method: read_tensor(final_dir(run.suite, run.run_id), name or "") for method, run in chosen.items()
    }
    if w0 is None or any(weight is None or weight.shape != w0.shape for weight in tuned.values()):
        return None
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    left.semilogy(torch.linalg.svdvals(w0).numpy(), label="base W0", color="black")
    for method, label in ((RL, "RLVR"), (SFT, "SFT")):
        weight = tuned[method]
        assert weight is not None  # checked above
        left.semilogy(torch.linalg.svdvals(weight).numpy(), linestyle="--", label=f"{label} W+")
        update = torch.linalg.svdvals(weight - w0)
        right.semilogy((update / update[0]).numpy(), marker=".", label=f"{label} dW")
    left.set_title(f"{name}: singular values")
    right.set_title("singular values of the update, / sigma_1")
    for axis in (left, right):
        axis.set_xlabel("index")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    path = suite_dir / SPECTRA_PLOT
    figure.savefig(path)
    plt.close(figure)
    return path
