"""Plots people would rather look at than read: accuracy against RL updates, per method."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import mean

LEARNING_CURVES_NAME = "learning_curves.png"


def plot_learning_curves(suite: str, runs: Sequence[RunResult], out_dir: Path) -> Path | None:
    """Real runs as mean curves over seeds; extrapolations as markers at their target, with dashed
    curves where the same prediction was also aimed at nearer targets, and a dotted line at the
    updates each one used.

    Returns the PNG's path, or None when no run recorded a learning curve.
    """
    curves: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    predictions: dict[str, list[RunResult]] = defaultdict(list)
    for run in runs:
        if run.status != "ok":
            continue
        if run.extrapolation is not None:
            predictions[run.method].append(run)
            continue
        for point in run.learning_curve:
            curves[run.method][point.update].append(point.in_domain)
    if not curves:
        return None

    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    # One panel per real run that was extrapolated (its predictions would crowd a shared one);
    # a single panel of every real curve otherwise.
    sources = sorted(
        {(r.extrapolation or {}).get("source_method", "") for rs in predictions.values() for r in rs}
    )
    panels = [m for m in sources if m in curves] or [None]
    figure, axes = plt.subplots(
        1, len(panels), figsize=(6 * len(panels), 5.5), dpi=120, squeeze=False, sharey=True
    )
    markers = "o^sDvP*X"
    for axis, source in zip(axes[0], panels, strict=True):
        for method, by_update in sorted(curves.items()):
            if source is not None and method != source:
                continue
            updates = sorted(by_update)
            values = [100 * mean(by_update[u]) for u in updates]
            axis.plot(updates, values, color="black" if source else None, label=f"{method} (real run)")
        shown = {
            m: d for m, d in predictions.items() if (d[0].extrapolation or {}).get("source_method") == source
        }
        for index, (method, derived) in enumerate(sorted(shown.items())):
            _plot_prediction(axis, method, derived, f"C{index}", markers[index % len(markers)])
        axis.set_xlabel("RL optimizer updates")
        axis.set_title(
            f"{source}: real run and predictions" if source else f"{suite}: accuracy against updates"
        )
        axis.grid(alpha=0.3)
        # Below the panel: inside it, the legend hides the points that matter most.
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    axes[0][0].set_ylabel("in-domain accuracy (%, mean over seeds)")
    figure.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LEARNING_CURVES_NAME
    figure.savefig(path)
    plt.close(figure)
    return path


def _plot_prediction(axis: Any, method: str, derived: Sequence[RunResult], colour: str, marker: str) -> None:
    """A marker at the target (mean over seeds), a dashed curve through nearer targets when the
    prediction was also aimed there, and a dotted line at the real updates it used."""
    info = derived[0].extrapolation or {}
    by_target: dict[int, list[float]] = defaultdict(list)
    for run in derived:
        for point in run.learning_curve:
            by_target[point.update].append(point.in_domain)
    if len(by_target) > 1:
        targets = sorted(by_target)
        values = [100 * mean(by_target[t]) for t in targets]
        axis.plot(targets, values, linestyle="--", linewidth=0.9, color=colour, marker=marker, markersize=3)
    accuracy = 100 * mean([r.metrics["in_domain"].score for r in derived])
    label = f"{method} -> {info['target']} ({info['updates_used']} real updates)"
    axis.scatter(
        [info["target"]],
        [accuracy],
        marker=marker,
        s=60,
        color=colour,
        edgecolor="black",
        zorder=3,
        label=label,
    )
    axis.axvline(info["updates_used"], color=colour, linestyle=":", linewidth=0.8)
