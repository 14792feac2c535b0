"""Plots people would rather look at than read: learning and reward curves, cost and forgetting."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peft_rlvr_bench.reporting.board import Leaderboard
from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import mean

LEARNING_CURVES_NAME = "learning_curves.png"


def method_colours(methods: Sequence[str]) -> dict[str, str]:
    """One colour per method for every plot of a suite: the sorted method names take
    matplotlib's tab20 colours in turn (cycling past 20), so a method keeps its colour from one
    figure to the next and from one rerun to the next."""
    palette = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
        "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
    ]  # fmt: skip
    return {method: palette[i % len(palette)] for i, method in enumerate(sorted(set(methods)))}


def _band(axis: Any, xs: Sequence[float], per_x: Sequence[Sequence[float]], colour: str | None) -> None:
    """The range over seeds (min to max) around a mean curve, where more than one seed ran."""
    if all(len(values) < 2 for values in per_x):
        return
    axis.fill_between(
        xs, [min(v) for v in per_x], [max(v) for v in per_x], color=colour, alpha=0.18, linewidth=0
    )


def plot_learning_curves(
    suite: str, runs: Sequence[RunResult], out_dir: Path, colours: dict[str, str] | None = None
) -> Path | None:
    """Real runs as mean curves over seeds with the seeds' range as a band; extrapolations as
    markers at their target, with dashed curves where the same prediction was also aimed at
    nearer targets, and a dotted line at the updates each one used.

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
    colours = colours or method_colours([*curves, *predictions])
    for axis, source in zip(axes[0], panels, strict=True):
        for method, by_update in sorted(curves.items()):
            if source is not None and method != source:
                continue
            updates = sorted(by_update)
            values = [100 * mean(by_update[u]) for u in updates]
            colour = "black" if source else colours.get(method)
            axis.plot(updates, values, color=colour, label=f"{method} (real run)")
            _band(axis, updates, [[100 * v for v in by_update[u]] for u in updates], colour)
        shown = {
            m: d for m, d in predictions.items() if (d[0].extrapolation or {}).get("source_method") == source
        }
        for index, (method, derived) in enumerate(sorted(shown.items())):
            colour = colours.get(method, f"C{index}")
            _plot_prediction(axis, method, derived, colour, markers[index % len(markers)])
        axis.set_xlabel("RL optimizer updates")
        axis.set_title(
            f"{source}: real run and predictions" if source else f"{suite}: accuracy against updates"
        )
        axis.grid(alpha=0.3)
        # Below the panel: inside it, the legend hides the points that matter most.
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    axes[0][0].set_ylabel("in-domain accuracy (%, mean over seeds; band: their range)")
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


REWARD_CURVES_NAME = "reward_curves.png"
PARETO_NAME = "pareto.png"
FORGETTING_NAME = "forgetting.png"
SMOOTHING = 5
"""Updates in the trailing mean of the reward curves: one update's reward is 32 samples."""


def plot_reward_curves(
    suite: str, runs: Sequence[RunResult], out_dir: Path, colours: dict[str, str] | None = None
) -> Path | None:
    """Training reward against updates: each seed's trailing mean of ``SMOOTHING`` updates, their
    mean as the curve and their range as a band."""
    rewards: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        if run.status == "ok" and run.extrapolation is None:
            points = [(s.step, s.reward_mean) for s in run.train_curve if s.reward_mean is not None]
            values = [v for _, v in points]
            for i, (step, _) in enumerate(points):
                rewards[run.method][step].append(mean(values[max(0, i - SMOOTHING + 1) : i + 1]))
    if not rewards:
        return None
    colours = colours or method_colours(list(rewards))
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5), dpi=120)
    for method, by_step in sorted(rewards.items()):
        steps = sorted(by_step)
        axis.plot(steps, [mean(by_step[s]) for s in steps], label=method, color=colours.get(method))
        _band(axis, steps, [by_step[s] for s in steps], colours.get(method))
    axis.set_xlabel("RL optimizer updates")
    axis.set_ylabel(f"training reward (trailing mean of {SMOOTHING}; mean over seeds, band: range)")
    axis.set_title(f"{suite}: reward curves")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, ncol=2)
    return _save(figure, plt, out_dir / REWARD_CURVES_NAME)


def plot_pareto(
    suite: str,
    points: Sequence[ParetoPoint],
    out_dir: Path,
    colours: dict[str, str] | None = None,
    contended: Collection[str] = (),
) -> Path | None:
    """In-domain accuracy against trainable parameters and, for methods timed on an idle machine
    only, against training time; without any such method the time panel is left out and the
    title says why (``details.contended_timings``)."""
    points = [p for p in points if p.trainable]
    if not points:
        return None
    colours = colours or method_colours([p.method for p in points])
    timed = [p for p in points if p.train_seconds and p.method not in contended]
    panels = [("trainable", "trainable parameters (log)", points)]
    if timed:
        left_out = len([p for p in points if p.method in contended])
        note = f"; {left_out} method(s) timed on a busy machine left out" if left_out else ""
        panels.append(("train_seconds", f"RL wall time per run (s, log{note})", timed))
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5), dpi=120, squeeze=False)
    for axis, (attribute, label, shown) in zip(axes[0], panels, strict=True):
        for point in shown:
            x = getattr(point, attribute)
            axis.errorbar(
                x,
                100 * point.accuracy,
                yerr=_error_bar(point.accuracy, point.low, point.high),
                fmt="o",
                capsize=2,
                color=colours.get(point.method),
            )
            axis.annotate(
                point.method, (x, 100 * point.accuracy), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
        frontier = _frontier([(getattr(p, attribute), p.accuracy) for p in shown])
        axis.plot(
            [x for x, _ in frontier], [100 * y for _, y in frontier], color="grey", linestyle=":", zorder=0
        )
        axis.set_xscale("log")
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("in-domain accuracy (%, 95% interval as on the leaderboard)")
    why = "" if timed else "\nno wall-time panel: no method was timed on an idle machine"
    figure.suptitle(f"{suite}: accuracy against cost (dotted: the Pareto frontier){why}", fontsize=10)
    return _save(figure, plt, out_dir / PARETO_NAME)


def plot_forgetting(
    suite: str, points: Sequence[ForgettingPoint], out_dir: Path, colours: dict[str, str] | None = None
) -> Path | None:
    """Forgetting against in-domain gain over the base, per method, with the leaderboard's 95% intervals."""
    if not points:
        return None
    colours = colours or method_colours([p.method for p in points])
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4.5), dpi=120)
    for point in points:
        axis.errorbar(
            100 * point.gain,
            100 * point.forgetting,
            xerr=_error_bar(point.gain, point.gain_low, point.gain_high),
            yerr=_error_bar(point.forgetting, point.low, point.high),
            fmt="o",
            capsize=2,
            color=colours.get(point.method),
        )
        axis.annotate(
            point.method,
            (100 * point.gain, 100 * point.forgetting),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xlabel("in-domain gain over the base (points)")
    axis.set_ylabel("forgetting (points; positive = forgotten)")
    axis.set_title(f"{suite}: what each method forgot for what it gained")
    axis.grid(alpha=0.3)
    return _save(figure, plt, out_dir / FORGETTING_NAME)


@dataclass(frozen=True)
class ParetoPoint:
    method: str
    accuracy: float
    low: float | None
    high: float | None
    trainable: float | None
    train_seconds: float | None


@dataclass(frozen=True)
class ForgettingPoint:
    method: str
    gain: float
    gain_low: float | None
    gain_high: float | None
    forgetting: float
    low: float | None
    high: float | None


def _error_bar(value: float, low: float | None, high: float | None) -> list[list[float]] | None:
    if low is None or high is None:
        return None
    return [[100 * max(value - low, 0.0)], [100 * max(high - value, 0.0)]]


def _frontier(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no cheaper point beats: ascending cost, strictly rising accuracy."""
    frontier: list[tuple[float, float]] = []
    for cost, accuracy in sorted(points):
        if not frontier or accuracy > frontier[-1][1]:
            frontier.append((cost, accuracy))
    return frontier


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, plt: Any, path: Path) -> Path:
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


PLOTS: tuple[tuple[str, str], ...] = (
    (LEARNING_CURVES_NAME, "in-domain accuracy against RL updates"),
    (REWARD_CURVES_NAME, "training reward against RL updates"),
    (PARETO_NAME, "in-domain accuracy against trainable parameters and training time"),
    (FORGETTING_NAME, "forgetting against in-domain gain"),
)
"""The plots a leaderboard shows, in order, with their captions."""


def write_plots(suite: str, board: Leaderboard, runs: Sequence[RunResult], suite_dir: Path) -> set[str]:
    """Draws every plot the results allow; returns the file names written."""
    trained = [row for row in board.rows if row.method != "base" and not row.derived]
    base_row = next((row for row in board.rows if row.method == "base"), None)
    pareto = [
        ParetoPoint(
            row.method,
            row.value("in_domain"),
            row["in_domain"].ci_low,
            row["in_domain"].ci_high,
            row.value("trainable_params"),
            row.value("train_seconds"),
        )
        for row in trained
        if row.value("in_domain") is not None
    ]
    base_accuracy = base_row.value("in_domain") if base_row is not None else None
    forgetting = [
        ForgettingPoint(
            row.method,
            row.value("in_domain") - base_accuracy,
            None if row["in_domain"].ci_low is None else row["in_domain"].ci_low - base_accuracy,
            None if row["in_domain"].ci_high is None else row["in_domain"].ci_high - base_accuracy,
            row.value("forgetting"),
            row["forgetting"].ci_low,
            row["forgetting"].ci_high,
        )
        for row in trained
        if base_accuracy is not None
        and row.value("in_domain") is not None
        and row.value("forgetting") is not None
    ]
    colours = method_colours([row.method for row in board.rows if row.method != "base"])
    drawn = (
        plot_learning_curves(suite, runs, suite_dir, colours),
        plot_reward_curves(suite, runs, suite_dir, colours),
        plot_pareto(suite, pareto, suite_dir, colours, contended=set(board.contended)),
        plot_forgetting(suite, forgetting, suite_dir, colours),
    )
    return {path.name for path in drawn if path is not None}
