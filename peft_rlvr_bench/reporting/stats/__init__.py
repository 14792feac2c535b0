"""The project's one statistics module: every interval, test and seed count on a page comes from here.

What it computes (``docs/statistics.md`` says why, with the calibration that chose it):

- **A method's mean** over seeds: :func:`t_interval` (Student t over the per-seed values). When
  every seed stored per-item scores on the same items, :func:`crossed_interval` instead: seeds and
  items as crossed random effects (method of moments, Satterthwaite df), so the interval also
  carries which items the eval set drew. :func:`items_interval` is the same for one fixed model
  (the base row). :func:`prediction_interval`: where one more seed should land (95%).
- **Two arms** (A minus B on shared seeds): :func:`paired_comparison` returns a
  :class:`PairedComparison` with the difference, its 95% interval (paired t, or seeds x items when
  both arms have per-item scores: pass ``items_a``/``items_b``), the p-value, ``separated()`` for a
  single test, and ``seeds_needed()`` (paired-t power, 80%, two-sided alpha 0.05; planned for the
  observed difference or, when that is below :data:`MIN_DETECTABLE_EFFECT`, for that effect).
- **A family of pairs**: :func:`holm` (statsmodels ``multipletests(method="holm")``). A page that
  picks its top method by looking at every method tests every pair, so its family is all pairs.
- **Power**: :func:`seeds_needed`, :func:`power_at` (noncentral t, as statsmodels ``TTestPower``;
  item noise does not shrink with seeds, :func:`item_limited`).
- **Across tasks**: :func:`aggregates` and :func:`probabilities_of_improvement` (rliable's IQM,
  mean and probability of improvement with its stratified bootstrap), valid only from
  :data:`MIN_BOOTSTRAP_SEEDS` runs per method (:func:`bootstrap_valid`).

Inputs are plain numbers: per-seed values as ``{seed: value}``, per-item scores as
``{seed: {task: TaskItems(digest, scores)}}``. Items pair only when digests and lengths agree
(:func:`item_tables`); otherwise everything falls back to the seed-level t.

A claims report calls, for two arms::

    result = paired_comparison(a_by_seed, b_by_seed, items_a, items_b)
    result.difference, result.ci_low, result.ci_high, result.p_value, result.kind
    result.separated()          # one test at alpha 0.05; holm([...]) for several
    result.seeds_needed()       # None: not estimable, or item noise caps the power
"""

from peft_rlvr_bench.reporting.stats.aggregate import (
    MIN_BOOTSTRAP_SEEDS,
    Aggregate,
    Improvement,
    aggregates,
    bootstrap_valid,
    probabilities_of_improvement,
)
from peft_rlvr_bench.reporting.stats.intervals import (
    CONFIDENCE,
    Interval,
    IntervalKind,
    binomial_half_width,
    crossed_interval,
    interval_around,
    items_interval,
    mean,
    prediction_interval,
    t_interval,
    updates_to_match,
)
from peft_rlvr_bench.reporting.stats.items import (
    RunItems,
    TaskItems,
    fixed_minus_runs,
    item_tables,
    paired_item_tables,
)
from peft_rlvr_bench.reporting.stats.paired import (
    ALPHA,
    MAX_SEEDS,
    MIN_DETECTABLE_EFFECT,
    POWER,
    PairedComparison,
    holm,
    item_limited,
    paired_comparison,
    paired_differences,
    power_at,
    seeds_needed,
    smallest_seeds,
)

__all__ = [
    "ALPHA",
    "CONFIDENCE",
    "MAX_SEEDS",
    "MIN_BOOTSTRAP_SEEDS",
    "MIN_DETECTABLE_EFFECT",
    "POWER",
    "Aggregate",
    "Improvement",
    "Interval",
    "IntervalKind",
    "PairedComparison",
    "RunItems",
    "TaskItems",
    "aggregates",
    "binomial_half_width",
    "bootstrap_valid",
    "crossed_interval",
    "fixed_minus_runs",
    "holm",
    "interval_around",
    "item_limited",
    "item_tables",
    "items_interval",
    "mean",
    "paired_comparison",
    "paired_differences",
    "paired_item_tables",
    "power_at",
    "prediction_interval",
    "probabilities_of_improvement",
    "seeds_needed",
    "smallest_seeds",
    "t_interval",
    "updates_to_match",
]
