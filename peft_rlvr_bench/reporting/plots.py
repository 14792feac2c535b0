"""Plots people would rather look at than read: accuracy against RL updates, per method."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import mean

LEARNING_CURVES_NAME = "learning_curves.png"


def plot_learning_curves(suite: str, runs: Sequence[RunResult], out_dir: Path) -> Path | None:
    """Real runs as mean curves over seeds; extrapolations as markers at (updates used -> target).

    Returns the PNG's path, or None when no run recorded a learning curve.
    """
    curves: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    predictions: dict[str, list[RunResult]] = defaultdict(list)
    for run in runs:
        if run.status != "ok":
            continue
        if run.extrapolation is not None:
            predictions[run.method].append(run)
        for point in run.learning_curve:
            curves[run.method][point.update].append(point.in_domain)
    if not curves:
        return None

    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5), dpi=120)
    colours = {}
    for method, by_update in sorted(curves.items()):
        updates = sorted(by_update)
        (line,) = axis.plot(
            updates, [100 * mean(by_update[u]) for u in updates], label=f"{method} (real run)"
        )
        colours[method] = line.get_color()
    markers = "o^sDvP*X"
    for index, (method, derived) in enumerate(sorted(predictions.items())):
        info = derived[0].extrapolation or {}
        accuracy = 100 * mean([r.metrics["in_domain"].score for r in derived])
        colour = colours.get(info.get("source_method", ""), "black")
        axis.scatter(
            [info["target"]],
            [accuracy],
            marker=markers[index % len(markers)],
            s=60,
            color=colour,
            edgecolor="black",
            zorder=3,
            label=f"{method} -> {info['target']}",
        )
        axis.axvline(info["updates_used"], color="grey", linestyle=":", linewidth=0.8)
    axis.set_xlabel("RL optimizer updates")
    axis.set_ylabel("in-domain accuracy (%)")
    axis.set_title(f"{suite}: accuracy against updates (mean over seeds)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LEARNING_CURVES_NAME
    figure.savefig(path)
    plt.close(figure)
    return path
