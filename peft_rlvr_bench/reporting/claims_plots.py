"""The claims report's plots: where RLVR's and SFT's updates go, layer by layer and in the spectrum.

``layers`` reads only the result files (each trained run's geometry summary). ``spectra`` needs
weights, so it reads the runs' saved checkpoints from ``outputs/``; when they are gone (a fresh
clone with committed results), the plot already in the results folder is kept as it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from peft_rlvr_bench.reporting.claims import LAYERS_PLOT, SPECTRA_PLOT
from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import mean

RL, SFT = "full", "full-sft"
SPECTRUM_MATRIX = "model.layers.{layer}.mlp.down_proj.weight"


def claims_plots(suite_dir: Path, base: RunResult, runs: Sequence[RunResult]) -> list[Path]:
    written = [path for path in (_layers(suite_dir, runs), _spectra(suite_dir, runs)) if path is not None]
    kept = suite_dir / SPECTRA_PLOT
    if kept.exists() and kept not in written:
        written.append(kept)
    return written


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


def _spectra(suite_dir: Path, runs: Sequence[RunResult]) -> Path | None:
    """Singular values of W0, W_RL and W_SFT for one MLP matrix of seed 0, and those of each update."""
    import torch

    from peft_rlvr_bench.adapters.checkpoints import load_trained
    from peft_rlvr_bench.models import load_base, model_location
    from peft_rlvr_bench.runner.execute import final_dir
    from peft_rlvr_bench.suite import ModelSpec

    chosen = {
        run.method: run for run in runs if run.method in (RL, SFT) and run.seed == 0 and run.status == "ok"
    }
    if set(chosen) != {RL, SFT}:
        return None
    directories = {method: final_dir(run.suite, run.run_id) for method, run in chosen.items()}
    if not all(directory.exists() for directory in directories.values()):
        return None
    spec = ModelSpec.model_validate(chosen[RL].spec["model"])
    base = dict(load_base(spec)[0].named_parameters())
    layer = (sum(1 for name in base if name.endswith("mlp.down_proj.weight")) - 1) // 2
    name = SPECTRUM_MATRIX.format(layer=layer)
    w0 = base[name].detach().double()
    tuned = {
        method: dict(load_trained(model_location(spec), directory).named_parameters())[name].detach().double()
        for method, directory in directories.items()
    }
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    left.semilogy(torch.linalg.svdvals(w0).numpy(), label="base W0", color="black")
    for method, label in ((RL, "RLVR"), (SFT, "SFT")):
        left.semilogy(torch.linalg.svdvals(tuned[method]).numpy(), linestyle="--", label=f"{label} W+")
        update = torch.linalg.svdvals(tuned[method] - w0)
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
