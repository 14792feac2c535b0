"""Intervals for a mean over seeds: Student t over seeds, and seeds x items variance components.

The array functions (:func:`t_summary`, :func:`crossed_summary`, :func:`items_summary`) work on
the last axes of numpy arrays and broadcast over any leading ones, so the calibration harness
(:mod:`.calibration`) checks thousands of synthetic experiments with the very code the
leaderboards run on one. The wrappers below them take plain sequences and return an
:class:`Interval`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as scipy_stats

NAN = float("nan")
CONFIDENCE = 0.95
"""Every interval this package reports is a 95% interval."""

IntervalKind = Literal["t over seeds", "seeds x items", "items"]
"""What an interval carries: seed noise only (Student t over seeds), seed and item noise
(crossed variance components, Satterthwaite df), or item noise only (one fixed model)."""


def mean(values: Sequence[float]) -> float:
    """Returns the arithmetic mean of ``values``, or nan when there are none."""
    if len(values) == 0:
        return NAN
    return math.fsum(values) / len(values)


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval, its standard error and the t degrees of freedom."""

    estimate: float
    low: float
    high: float
    se: float
    df: float
    kind: IntervalKind
    n: int
    """Seeds behind the estimate."""

    def p_value(self) -> float:
        """Two-sided p-value of ``estimate == 0`` under the same t reference distribution."""
        return float(t_p_value(np.float64(self.estimate), np.float64(self.se), np.float64(self.df)))


# Array functions (vectorised over leading axes) -------------------------------------------------


def t_half_width(se: np.ndarray, df: np.ndarray, confidence: float = CONFIDENCE) -> np.ndarray:
    """``t[1 - (1 - confidence) / 2, df] * se``; nan where df is not positive."""
    df = np.asarray(df, dtype=float)
    quantile = scipy_stats.t.ppf(0.5 + confidence / 2, np.where(df > 0, df, np.nan))
    # A zero SE is an exact answer (every value identical), whatever the df.
    return np.where(np.asarray(se) == 0, 0.0, quantile * se)


def t_p_value(estimate: np.ndarray, se: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p of ``estimate / se`` against Student t with ``df``.

    With a zero SE the data have no noise to test against: p is 1 for a zero estimate and 0
    otherwise (the limit of the t statistic).
    """
    estimate, se, df = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (estimate, se, df)))
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.abs(estimate) / se
        p = 2.0 * scipy_stats.t.sf(statistic, np.where(df > 0, df, np.nan))
    degenerate = se == 0
    p = np.where(degenerate & (estimate == 0), 1.0, p)
    return np.where(degenerate & (estimate != 0), 0.0, p)


def t_summary(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard error and df (n - 1) over the last axis: the one-sample Student t."""
    values = np.asarray(values, dtype=float)
    n = values.shape[-1]
    centre = values.mean(axis=-1)
    if n < 2:
        nan = np.full_like(centre, np.nan)
        return centre, nan, nan
    se = values.std(axis=-1, ddof=1) / math.sqrt(n)
    return centre, se, np.full_like(centre, n - 1.0)


def _two_way_mean_squares(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MS_item and MS_residual of a seeds x items table (last two axes), one observation per cell."""
    seeds, items = y.shape[-2], y.shape[-1]
    grand = y.mean(axis=(-2, -1), keepdims=True)
    item_means = y.mean(axis=-2, keepdims=True)
    seed_means = y.mean(axis=-1, keepdims=True)
    ms_item = seeds * ((item_means - grand) ** 2).sum(axis=(-2, -1)) / (items - 1)
    residual = y - seed_means - item_means + grand
    ms_residual = (residual**2).sum(axis=(-2, -1)) / ((seeds - 1) * (items - 1))
    return ms_item, ms_residual


def crossed_summary(
    tasks: Sequence[np.ndarray], weights: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard error and Satterthwaite df of a weighted mean over tasks of seeds x items tables.

    ``tasks[t]`` has shape ``(..., S, I_t)``: the score of seed s on item i of task t, every task
    scored on the same S seeds. The estimate is ``sum_t w_t * mean(tasks[t])`` (``w_t = 1/T`` by
    default: a role score is the unweighted mean of its tasks). Seeds and items are crossed random
    effects (two-way random-effects ANOVA, method of moments); its variance is

        Var_seeds(r_s) / S  +  sum_t w_t^2 * max(MS_item,t - MS_resid,t, 0) / (S * I_t)

    where ``r_s`` is seed s's weighted score. With one task this is the textbook
    ``(MS_seed + MS_item - MS_resid) / (S * I)``; with several, the seed term keeps the correlation
    of one seed's scores across tasks. A negative item component is truncated at 0 (its terms leave
    the df as well). The df is Satterthwaite's for the linear combination of mean squares.
    """
    arrays = [np.asarray(task, dtype=float) for task in tasks]
    seeds = arrays[0].shape[-2]
    w = [1.0 / len(arrays)] * len(arrays) if weights is None else list(weights)
    per_seed = sum(wt * task.mean(axis=-1) for wt, task in zip(w, arrays, strict=True))
    centre, seed_se, seed_df = t_summary(per_seed)
    if seeds < 2:
        return centre, seed_se, seed_df
    seed_term = seed_se**2
    variance = seed_term
    df_denominator = seed_term**2 / (seeds - 1)
    for wt, task in zip(w, arrays, strict=True):
        items = task.shape[-1]
        if items < 2:
            continue
        ms_item, ms_residual = _two_way_mean_squares(task)
        scale = wt**2 / (seeds * items)
        keep = ms_item > ms_residual
        variance = variance + np.where(keep, scale * (ms_item - ms_residual), 0.0)
        df_denominator = df_denominator + np.where(
            keep,
            (scale * ms_item) ** 2 / (items - 1) + (scale * ms_residual) ** 2 / ((seeds - 1) * (items - 1)),
            0.0,
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(df_denominator > 0, variance**2 / df_denominator, seeds - 1.0)
    return centre, np.sqrt(variance), df


def items_summary(
    tasks: Sequence[np.ndarray], weights: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard error and Satterthwaite df of a weighted mean of item scores of one fixed model.

    ``tasks[t]`` has shape ``(..., I_t)``. For a deterministic model (the base row, greedy decoding)
    the only noise is which items the eval set drew: ``Var = sum_t w_t^2 * s_t^2 / I_t``.
    """
    arrays = [np.asarray(task, dtype=float) for task in tasks]
    w = [1.0 / len(arrays)] * len(arrays) if weights is None else list(weights)
    centre = sum(wt * task.mean(axis=-1) for wt, task in zip(w, arrays, strict=True))
    terms = [wt**2 * task.var(axis=-1, ddof=1) / task.shape[-1] for wt, task in zip(w, arrays, strict=True)]
    variance = sum(terms)
    denominator = sum(term**2 / (task.shape[-1] - 1) for term, task in zip(terms, arrays, strict=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(denominator > 0, variance**2 / denominator, np.inf)
    return centre, np.sqrt(variance), df


# Wrappers on plain numbers --------------------------------------------------------------------


def interval_around(centre: float, se: float, df: float, kind: IntervalKind, n: int) -> Interval:
    """``centre +- t[df] * se`` as an :class:`Interval` (nan bounds when se or df is nan)."""
    if math.isnan(se) or math.isnan(df):
        return Interval(float(centre), NAN, NAN, float(se), float(df), kind, n)
    half = float(t_half_width(np.float64(se), np.float64(df)))
    return Interval(float(centre), centre - half, centre + half, float(se), float(df), kind, n)


def t_interval(values: Sequence[float]) -> Interval:
    """The mean of ``values`` (one per seed) with its 95% Student-t interval.

    Fewer than two values, or a nan among them, give nan bounds; identical values give a
    zero-width interval.
    """
    data = np.asarray(values, dtype=float)
    if data.size < 2 or np.isnan(data).any():
        return Interval(mean(list(data)), NAN, NAN, NAN, NAN, "t over seeds", int(data.size))
    centre, se, df = t_summary(data)
    return interval_around(float(centre), float(se), float(df), "t over seeds", int(data.size))


def crossed_interval(tasks: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> Interval:
    """:func:`crossed_summary` of plain ``(S, I_t)`` tables as an :class:`Interval` (nan below 2 seeds)."""
    seeds = int(np.shape(tasks[0])[0])
    centre, se, df = crossed_summary(tasks, weights)
    if seeds < 2 or not np.isfinite(se):
        return Interval(float(centre), NAN, NAN, NAN, NAN, "seeds x items", seeds)
    return interval_around(float(centre), float(se), float(df), "seeds x items", seeds)


def items_interval(tasks: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> Interval:
    """:func:`items_summary` of one fixed model's ``(I_t,)`` item scores as an :class:`Interval`."""
    centre, se, df = items_summary(tasks, weights)
    if not np.isfinite(se):
        return Interval(float(centre), NAN, NAN, NAN, NAN, "items", 1)
    return interval_around(float(centre), float(se), float(df), "items", 1)


def prediction_interval(values: Sequence[float]) -> tuple[float, float]:
    """The 95% prediction interval of one new seed's value: ``mean +- t[n-1] * s * sqrt(1 + 1/n)``.

    A rerun (same eval items, another seed or machine) should land inside it 95% of the time,
    which is how a user checks that committed numbers reproduce. ``(nan, nan)`` below two values.
    """
    data = np.asarray(values, dtype=float)
    if data.size < 2 or np.isnan(data).any():
        return (NAN, NAN)
    centre = float(data.mean())
    half = float(t_half_width(np.float64(data.std(ddof=1) * math.sqrt(1 + 1 / data.size)), data.size - 1))
    return (centre - half, centre + half)


# Learning curves ------------------------------------------------------------------------------


def binomial_half_width(accuracy: float, n: int, z: float = 1.96) -> float:
    """Half-width of the normal-approximation 95% interval of an accuracy over ``n`` items."""
    if n <= 0:
        return math.nan
    return z * math.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / n)


def updates_to_match(curve: Sequence[tuple[int, float]], accuracy: float, n_items: int) -> int | None:
    """The first recorded update whose accuracy reaches ``accuracy`` within its sampling error.

    ``curve`` is (update, accuracy) of the real run in update order. "Within its sampling error"
    means at least ``accuracy`` minus the half-width of its 95% binomial interval over
    ``n_items``: an extrapolated checkpoint is matched once the real run is statistically as good.
    None when the real run never gets there.
    """
    threshold = accuracy - binomial_half_width(accuracy, n_items)
    return next((update for update, value in curve if value >= threshold), None)
