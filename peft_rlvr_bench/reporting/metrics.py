"""Every leaderboard column, declared once: what it reads, which way is better, what it means.

The Markdown and HTML tables, the CSV header, the header tooltips, the legend and ``prb compare``
all come from :data:`METRICS`, so a column cannot mean one thing in one file and another in the
next (peft's ``processing.py``, HELM's schema).

Adding a metric is one entry: give it a ``read`` function that takes a :class:`RunResult` and
returns a number, or None when the run does not have it (results written before the metric
existed, runs that skipped it). :func:`field` builds such a reader from a path of attribute names
and dict keys, e.g. ``field("metrics", "in_domain", "pass_at_k", "8")`` or ``field("kl_drift")``.
A row shows ``-`` where none of its seeds has the metric; a column whose ``optional`` is true is
left out of every table while no row of the suite has it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from peft_rlvr_bench.reporting.formats import general, humanize_count, integer, percent, three_significant
from peft_rlvr_bench.reporting.readers import (
    field,
    learning_rate,
    median_step_seconds,
    raw_field,
    role_items,
    role_score,
    updates_used,
)
from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import RunItems

Direction = Literal["higher", "lower", "diagnostic"]
"""``higher``/``lower``: which way is better; ``diagnostic``: no better way (budgets, geometry)."""
Aggregate = Literal["mean", "max", "shared"]
"""How seeds combine: their mean, their max, or the one value they all share (else none)."""

DIRECTION_TEXT = {"higher": "higher is better", "lower": "lower is better", "diagnostic": "diagnostic"}
DIRECTION_ARROW = {"higher": "↑", "lower": "↓", "diagnostic": ""}


def is_non_finite(metric: Metric, run: RunResult) -> bool:
    """Whether the run stored NaN or an infinity for ``metric``: measured, and broken, which a
    table must not show as ``-`` (not measured)."""
    path = getattr(metric.read, "path", None)
    value = raw_field(run, path) if path is not None else None
    return isinstance(value, float) and not math.isfinite(value)


# The declaration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One leaderboard column."""

    name: str
    """The CSV column (plus ``_ci_low``/``_ci_high`` when ``ci``) and the key of a row's cells."""
    header: str
    """The column title in Markdown and HTML."""
    direction: Direction
    description: str
    """One sentence for the legend and the header tooltip."""
    read: Callable[[RunResult], float | None]
    format: Callable[[float], str] = general
    """Value -> table text (the CSV keeps the raw value)."""
    ci: bool = False
    """Mean over seeds with its 95% interval (Student t over seeds, or seeds x items with ``items``)
    and the 95% prediction interval of a new seed."""
    items: Callable[[RunResult], RunItems | None] | None = None
    """Per-item scores behind the value (by task), so the interval can carry item noise too."""
    aggregate: Aggregate = "mean"
    versus_base: bool = False
    """The value is the base model's minus the run's, per seed (the base row shows 0)."""
    on_base: bool = True
    """Whether the base row shows it (the base model is evaluated, never trained)."""
    optional: bool = True
    """Left out of the tables while no row has a value."""
    group: str | None = None
    """The page's column group (accuracy, cost, drift, geometry) that shows or hides it; None: by
    :data:`GROUPS`, else ``other``."""

    @property
    def columns(self) -> tuple[str, ...]:
        """The metric's CSV columns: the value, and with ``ci`` the interval, what kind it is and the
        prediction interval of a new seed."""
        if not self.ci:
            return (self.name,)
        suffixes = ("ci_low", "ci_high", "ci_kind", "pi_low", "pi_high")
        return (self.name, *(f"{self.name}_{suffix}" for suffix in suffixes))

    @property
    def legend(self) -> str:
        """``Header`` (direction): description."""
        return f"{self.header} ({DIRECTION_TEXT[self.direction]}): {self.description}"


LM_EVAL_COLUMNS = (
    ("minerva_math500", "math_verify,none", "MATH-500 (lm-eval)"),
    ("hendrycks_math500", "exact_match,none", "MATH-500 hendrycks (lm-eval)"),
    ("aime24", "exact_match,none", "AIME24 (lm-eval)"),
    ("aime25", "exact_match,none", "AIME25 (lm-eval)"),
    ("gpqa_diamond_cot_zeroshot", "exact_match,flexible-extract", "GPQA-D (lm-eval)"),
    ("mmlu_pro", "exact_match,custom-extract", "MMLU-Pro (lm-eval)"),
)
"""lm-eval's shipped tasks with a column of their own: (task, its headline ``metric,filter``, header)."""


METRICS: tuple[Metric, ...] = (
    Metric(
        "in_domain",
        "In-domain",
        "higher",
        "greedy accuracy (%) on the task family RL trains on (eval.in_domain), held-out items",
        role_score("in_domain"),
        percent,
        ci=True,
        items=role_items("in_domain"),
        optional=False,
    ),
    Metric(
        "out_of_domain",
        "Out-of-domain",
        "higher",
        "greedy accuracy (%) on the same skill under a shifted format (eval.out_of_domain)",
        role_score("out_of_domain"),
        percent,
        ci=True,
        items=role_items("out_of_domain"),
        optional=False,
    ),
    Metric(
        "forgetting",
        "Forgetting",
        "lower",
        "base minus tuned greedy accuracy (points) on skills RL never trains (eval.forgetting), "
        "per seed; positive means forgotten",
        role_score("forgetting"),
        percent,
        ci=True,
        items=role_items("forgetting"),
        versus_base=True,
        optional=False,
    ),
    Metric(
        "trainable_params",
        "Trainable params",
        "diagnostic",
        "parameters the method trains, counted from the wrapped model (requires_grad; a sparse mask "
        "counts its coordinates); max over seeds",
        field("trainable_params"),
        humanize_count,
        aggregate="max",
        optional=False,
    ),
    Metric(
        "learning_rate",
        "LR",
        "diagnostic",
        "the entry's learning rate (- where its seeds disagree)",
        learning_rate,
        general,
        aggregate="shared",
        on_base=False,
        optional=False,
    ),
    Metric(
        "train_seconds",
        "Train s",
        "lower",
        "wall time of the RL phase in seconds, mean over seeds",
        field("timings", "train"),
        integer,
        on_base=False,
        optional=False,
    ),
    Metric(
        "step_seconds",
        "Step s",
        "lower",
        "median wall time of one RL update (rollouts included) in seconds, mean over seeds",
        median_step_seconds,
        three_significant,
        on_base=False,
    ),
    Metric(
        "gpu_peak_mb",
        "GPU MB",
        "lower",
        "peak GPU memory of the run's process (allocated, MiB; reset per run; see the result's "
        "gpu_memory for the device), max over seeds",
        field("gpu_memory", "peak_allocated_mb"),
        integer,
        aggregate="max",
    ),
    Metric(
        "updates",
        "Updates",
        "diagnostic",
        "RL optimizer updates the row's checkpoints cost: the budget, or an extrapolation's observed window",
        updates_used,
        integer,
        on_base=False,
        optional=False,
    ),
    Metric(
        "steps_saved",
        "Steps saved",
        "higher",
        "extrapolations only: updates the real run needed to match the prediction (on its learning "
        "curve's items), minus Updates; mean over seeds",
        field("extrapolation", "steps_saved"),
        integer,
        ci=True,
        on_base=False,
    ),
    Metric(
        "gain_recovery",
        "Gain kept",
        "higher",
        "derived rows only: (acc - acc(base)) / (acc(source run) - acc(base)) in-domain, the share of the "
        "source run's gain the derived checkpoint keeps (rank-1 gain recovery for `rank1` rows)",
        field("extrapolation", "gain_recovery"),
        percent,
        ci=True,
        on_base=False,
    ),
    Metric(
        "avg_at_k",
        "avg@k",
        "higher",
        "in-domain accuracy (%) averaged over k sampled completions per item (eval.sampling)",
        field("metrics", "in_domain", "avg_at_k"),
        percent,
        ci=True,
        items=role_items("in_domain", "sampled_items"),
    ),
    Metric(
        "pass_at_k",
        "pass@k",
        "higher",
        "in-domain share (%) of items with at least one correct completion among k samples, by the "
        "unbiased estimator (Chen et al. 2021)",
        field("metrics", "in_domain", "pass_at_k"),
        percent,
        ci=True,
    ),
    Metric(
        "kl_drift",
        "KL to base",
        "lower",
        "mean per-token KL(tuned || base) over the tuned model's greedy completions of held-out "
        "in-domain prompts (eval.kl_items); the forgetting predictor of the literature",
        field("kl_to_base", "token_mean"),
        three_significant,
        ci=True,
        on_base=False,
    ),
    Metric(
        "forgetting_nll",
        "Forget NLL",
        "lower",
        "mean per-token NLL of the reference answers of held-out forgetting-task items (eval.loss_items); "
        "compare with the base row: above it means forgotten",
        field("metrics", "forgetting", "nll"),
        three_significant,
        ci=True,
    ),
    *(
        Metric(
            f"lm_eval_{task}",
            header,
            "higher",
            f"lm-eval's own {task} task as it ships it, {key} (%); its prompt and scoring, not the "
            "verifier's (eval.lm_eval_tasks)",
            field("lm_eval", task, key),
            percent,
        )
        for task, key, header in LM_EVAL_COLUMNS
    ),
    Metric(
        "update_sparsity",
        "Unchanged %",
        "diagnostic",
        "bf16 update sparsity against W0: share of block-matrix coordinates whose stored bf16 value is "
        "bitwise W0's; higher means fewer coordinates changed (RLVR 36-92% in arXiv 2511.08567, "
        "SFT 0.6-18.8%)",
        field("geometry", "headline", "update_sparsity"),
        percent,
    ),
    Metric(
        "top1_energy_share",
        "Top-1 share",
        "diagnostic",
        "sigma_1(dW)^2 / ||dW||_F^2, mean over block matrices; higher means the update is closer to rank 1",
        field("geometry", "headline", "means", "top1_energy_share"),
        three_significant,
    ),
    Metric(
        "spectral_shift",
        "Spectral shift",
        "diagnostic",
        "||sigma(W+) - sigma(W0)|| / ||sigma(W0)||, mean over block matrices; higher means the singular "
        "values moved more",
        field("geometry", "headline", "means", "spectral_shift"),
        three_significant,
    ),
    Metric(
        "principal_angle_16",
        "Angle@16",
        "diagnostic",
        "largest principal angle (degrees) between the top-16 left singular subspaces of W0 and W+, mean "
        "over block matrices; higher means the subspace rotated more",
        field("geometry", "headline", "means", "principal_angle_left_deg@16"),
        three_significant,
    ),
)
"""Every column, in table order. A new metric is one more optional entry whose ``read`` returns
None for runs without it."""

GROUPS: dict[str, tuple[str, ...]] = {
    "accuracy": ("in_domain", "out_of_domain", "avg_at_k", "pass_at_k", "gain_recovery"),
    "cost": ("trainable_params", "learning_rate", "train_seconds", "updates", "steps_saved"),
    "drift": ("forgetting", "kl_drift", "forgetting_nll"),
    "geometry": ("update_sparsity", "top1_energy_share", "spectral_shift", "principal_angle_16"),
}
"""The leaderboard page's column groups, each shown or hidden with one switch."""


def group_of(metric: Metric) -> str:
    """The column group of ``metric``: its own ``group``, else the one :data:`GROUPS` lists it in."""
    if metric.group is not None:
        return metric.group
    return next((group for group, names in GROUPS.items() if metric.name in names), "other")


METRICS_BY_NAME = {metric.name: metric for metric in METRICS}
if len(METRICS_BY_NAME) != len(METRICS):  # pragma: no cover - a programming error, caught on import
    raise RuntimeError("two METRICS entries share a name")

RANKING_METRIC = "in_domain"
"""The metric rows are ordered by and the best-method mark is decided on."""


def cell_text(
    metric: Metric, value: float | None, low: float | None = None, high: float | None = None
) -> str:
    """The table text of a value: formatted, with `` [low, high]`` when it has a CI, ``-`` when absent,
    ``NaN``, ``inf`` or ``-inf`` when a run measured that (never ``-``: it was measured)."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    text = metric.format(value)
    if metric.ci and low is not None and high is not None and not (math.isnan(low) or math.isnan(high)):
        text += f" [{metric.format(low)}, {metric.format(high)}]"
    return text
