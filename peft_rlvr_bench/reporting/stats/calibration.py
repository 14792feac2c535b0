"""The calibration harness: synthetic experiments with a known truth, run through the very array
functions the leaderboards use, to measure how often the 95% intervals cover the truth, how
often identical methods get separated or starred, and whether the power analysis's seed counts
deliver their power.

``tests/unit/reporting/stats/test_calibration.py`` runs it (seeded, a few seconds) and bounds every rate;
``python -m peft_rlvr_bench.reporting.stats.calibration`` prints the larger table quoted in
``docs/statistics.md``.

The item-level model: item i has a difficulty ``b_i ~ N(0, item_sd)`` drawn afresh for every
experiment (the eval set is a sample of the task's items), seed s of a method a skill offset
``u_s ~ N(0, seed_sd)``, and the greedy verifier scores item i under seed s as a Bernoulli with
``P = sigmoid(logit + b_i + u_s)``. The truth is the method's accuracy over the whole item
population and seed distribution, ``E[sigmoid(logit + b + u)]`` (Gauss-Hermite quadrature).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from peft_rlvr_bench.reporting.stats.intervals import (
    crossed_summary,
    t_half_width,
    t_p_value,
    t_summary,
)
from peft_rlvr_bench.reporting.stats.paired import ALPHA, power_at


@dataclass(frozen=True)
class ItemWorld:
    """One method's Bernoulli item model (module docstring)."""

    logit: float = 2.2
    """sigmoid(2.2) = 0.90: the tiny world's in-domain accuracy."""
    item_sd: float = 1.5
    seed_sd: float = 0.1
    items: int = 500

    def truth(self) -> float:
        """The population accuracy ``E[sigmoid(logit + b + u)]``, by 2-D Gauss-Hermite quadrature."""
        nodes, weights = np.polynomial.hermite_e.hermegauss(60)
        weights = weights / weights.sum()
        grid = self.logit + self.item_sd * nodes[:, None] + self.seed_sd * nodes[None, :]
        return float((weights[:, None] * weights[None, :] * expit(grid)).sum())

    def draw(
        self, rng: np.random.Generator, experiments: int, seeds: int, methods: int = 1, shift: float = 0.0
    ) -> np.ndarray:
        """Scores of shape ``(experiments, methods, seeds, items)``: methods share each experiment's
        items and differ by ``shift`` logits per method index (0 for identical methods)."""
        difficulty = rng.normal(0.0, self.item_sd, size=(experiments, 1, 1, self.items))
        skill = rng.normal(0.0, self.seed_sd, size=(experiments, methods, seeds, 1))
        offset = shift * np.arange(methods).reshape(1, methods, 1, 1)
        probability = expit(self.logit + offset + difficulty + skill)
        return (rng.random(probability.shape) < probability).astype(np.float64)


def _covers(centre: np.ndarray, se: np.ndarray, df: np.ndarray, truth: float | np.ndarray) -> float:
    half = t_half_width(se, df)
    return float(np.mean(np.abs(centre - truth) <= half))


# Coverage -------------------------------------------------------------------------------------


def t_coverage(rng: np.random.Generator, experiments: int, seeds: int) -> float:
    """Coverage of the Student-t interval of a mean over ``seeds`` normal values."""
    values = rng.normal(0.3, 0.02, size=(experiments, seeds))
    return _covers(*t_summary(values), 0.3)


def percentile_bootstrap_coverage(
    rng: np.random.Generator, experiments: int, seeds: int, reps: int = 2000
) -> float:
    """Coverage of the 95% percentile bootstrap of a mean over ``seeds`` normal values (what the
    leaderboards used to show), vectorised over experiments."""
    values = rng.normal(0.0, 1.0, size=(experiments, seeds))
    picks = rng.integers(0, seeds, size=(experiments, reps, seeds))
    means = np.take_along_axis(values[:, None, :], picks, axis=2).mean(axis=2)
    low, high = np.percentile(means, [2.5, 97.5], axis=1)
    return float(np.mean((low <= 0.0) & (high >= 0.0)))


def crossed_coverage(rng: np.random.Generator, world: ItemWorld, experiments: int, seeds: int) -> float:
    """Coverage of the seeds x items interval of one method's population accuracy."""
    scores = world.draw(rng, experiments, seeds)[:, 0]
    return _covers(*crossed_summary([scores]), world.truth())


def seed_t_on_items_coverage(
    rng: np.random.Generator, world: ItemWorld, experiments: int, seeds: int
) -> float:
    """Coverage of the seed-only t interval of the same population accuracy: what ignoring item
    noise costs when the question is about the task rather than these 500 items."""
    scores = world.draw(rng, experiments, seeds)[:, 0]
    return _covers(*t_summary(scores.mean(axis=-1)), world.truth())


def paired_crossed_coverage(
    rng: np.random.Generator, world: ItemWorld, experiments: int, seeds: int
) -> float:
    """Coverage of the seeds x items interval of the difference of two identical methods (truth 0)."""
    scores = world.draw(rng, experiments, seeds, methods=2)
    return _covers(*crossed_summary([scores[:, 0] - scores[:, 1]]), 0.0)


# Family-wise false positives under the null ---------------------------------------------------


def holm_batch(p_values: np.ndarray) -> np.ndarray:
    """Holm-adjusted p over the last axis, vectorised: the same step-down as statsmodels'
    ``multipletests(method="holm")`` (which the leaderboards call; a test checks they agree),
    which takes one family per call."""
    m = p_values.shape[-1]
    order = np.argsort(p_values, axis=-1)
    ranked = np.take_along_axis(p_values, order, axis=-1)
    adjusted = np.minimum(1.0, np.maximum.accumulate(ranked * (m - np.arange(m)), axis=-1))
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


@dataclass(frozen=True)
class NullRates:
    """Under the null (identical methods): how often a page would star a method or call any pair separated."""

    star: float
    any_separated: float
    any_separated_top_family: float
    """The same with Holm over the top-vs-others pairs only (the family the page shows)."""


def _null_rates(per_seed: np.ndarray, tables: np.ndarray | None) -> NullRates:
    """``per_seed``: (E, methods, seeds) scores; ``tables``: (E, methods, seeds, items) or None."""
    experiments, methods = per_seed.shape[:2]
    first, second = np.triu_indices(methods, 1)
    if tables is None:
        centre, se, df = t_summary(per_seed[:, first] - per_seed[:, second])
    else:
        centre, se, df = crossed_summary([tables[:, first] - tables[:, second]])
    p_all = t_p_value(centre, se, df)
    adjusted = holm_batch(p_all)
    top = per_seed.mean(axis=-1).argmax(axis=-1)
    involves_top = (first[None, :] == top[:, None]) | (second[None, :] == top[:, None])
    star = np.all(np.where(involves_top, adjusted < ALPHA, True), axis=-1)
    # Every experiment has exactly methods - 1 pairs with its top method.
    top_only = holm_batch(p_all[involves_top].reshape(experiments, methods - 1))
    return NullRates(
        star=float(star.mean()),
        any_separated=float((adjusted < ALPHA).any(axis=-1).mean()),
        any_separated_top_family=float((top_only < ALPHA).any(axis=-1).mean()),
    )


def null_rates_seeds(rng: np.random.Generator, experiments: int, methods: int, seeds: int) -> NullRates:
    """:class:`NullRates` of the seed-level paired t, methods with independent normal seed noise."""
    return _null_rates(rng.normal(0.9, 0.005, size=(experiments, methods, seeds)), None)


def null_rates_items(
    rng: np.random.Generator, world: ItemWorld, experiments: int, methods: int, seeds: int
) -> NullRates:
    """:class:`NullRates` of the seeds x items comparisons, identical Bernoulli methods on shared items."""
    tables = world.draw(rng, experiments, seeds, methods=methods)
    return _null_rates(tables.mean(axis=-1), tables)


# Power ----------------------------------------------------------------------------------------


def detectable_difference(seeds: int, sd: float, item_variance: float = 0.0, alpha: float = ALPHA) -> float:
    """The true difference the power analysis says ``seeds`` pairs detect with 80% power (bisection)."""
    low, high = 0.0, 10.0 * (sd + math.sqrt(item_variance))
    for _ in range(60):
        middle = (low + high) / 2
        short = power_at(seeds, middle, sd, item_variance, alpha) < 0.8
        low, high = (middle, high) if short else (low, middle)
    return high


def seed_power(rng: np.random.Generator, experiments: int, seeds: int, sd: float = 0.01) -> float:
    """Share of experiments where the paired t separates a difference of :func:`detectable_difference`."""
    difference = detectable_difference(seeds, sd)
    values = rng.normal(difference, sd, size=(experiments, seeds))
    return float(np.mean(t_p_value(*t_summary(values)) < ALPHA))


# The table quoted in docs/statistics.md --------------------------------------------------------


def rliable_coverage(
    rng: np.random.Generator, experiments: int, seeds: int, tasks: int = 3, reps: int = 1000
) -> float:
    """Coverage of rliable's stratified-bootstrap CI of the mean over runs x tasks (normal scores)."""
    from rliable import library as rly
    from rliable import metrics

    warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
    covered = 0
    for _ in range(experiments):
        matrix = rng.normal(0.0, 1.0, size=(seeds, tasks))
        _, interval = rly.get_interval_estimates(
            {"m": matrix},
            lambda x: np.array([metrics.aggregate_mean(x)]),
            reps=reps,
            random_state=np.random.RandomState(int(rng.integers(2**31))),
        )
        covered += bool(interval["m"][0, 0] <= 0.0 <= interval["m"][1, 0])
    return covered / experiments


def report(seed: int = 0, seeds_list: Sequence[int] = (3, 5, 10)) -> str:
    """The calibration table as Markdown (larger samples than the test; about a minute on one core)."""
    rng = np.random.default_rng(seed)
    aime = ItemWorld(logit=-1.0, item_sd=2.0, seed_sd=0.3, items=30)
    lines = [
        "| Seeds | t over seeds | percentile bootstrap | rliable bootstrap (3 tasks) "
        "| seeds x items, 500 items | seed-only t on 500 items | seeds x items, 30 items (AIME-like) "
        "| paired seeds x items |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for seeds in seeds_list:
        row = [
            t_coverage(rng, 20_000, seeds),
            percentile_bootstrap_coverage(rng, 4000, seeds),
            rliable_coverage(rng, 400, seeds),
            crossed_coverage(rng, ItemWorld(), 4000, seeds),
            seed_t_on_items_coverage(rng, ItemWorld(), 4000, seeds),
            crossed_coverage(rng, aime, 20_000, seeds),
            paired_crossed_coverage(rng, ItemWorld(), 4000, seeds),
        ]
        lines.append(f"| {seeds} | " + " | ".join(f"{100 * value:.1f}%" for value in row) + " |")
    lines += [
        "",
        "| Methods | Seeds | ★ | any separated (Holm, all pairs) | any separated (Holm, top vs others) |",
    ]
    lines.append("|--:|--:|--:|--:|--:|")
    for methods in (3, 8):
        for seeds in seeds_list:
            rates = null_rates_seeds(rng, 20_000, methods, seeds)
            lines.append(
                f"| {methods} | {seeds} | {100 * rates.star:.1f}% | {100 * rates.any_separated:.1f}% | "
                f"{100 * rates.any_separated_top_family:.1f}% |"
            )
    lines += ["", "| Seeds | power of the paired t at the detectable difference |", "|--:|--:|"]
    lines += [f"| {seeds} | {100 * seed_power(rng, 20_000, seeds):.1f}% |" for seeds in seeds_list]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - prints the docs table
    print(report())
