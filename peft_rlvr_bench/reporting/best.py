"""Which method is best, if any: the paired statistics behind the leaderboard's ★ and its power note.

The mark is decided on one metric (in-domain accuracy) among the trained methods, never the base
row, never an extrapolation. The top method by mean gets it only when, against every other
trained method on the seeds both have, the 95% percentile-bootstrap CI of the paired difference
excludes 0 *and* the exact two-sided sign-flip test gives p < 0.05
(:meth:`~peft_rlvr_bench.reporting.stats.PairedComparison.separated`). Both must agree because
at 3 seeds they disagree: three positive differences always give a bootstrap CI above 0, while
the exact test cannot go below 2/2**3 = 0.25, so no mark is possible below 6 seeds. When the top
method is not separated, the note names the methods it ties with and estimates, for the closest
of them, the seeds it would take (normal approximation, 80% power, two-sided alpha 0.05), or says
the seeds are too few to tell.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from peft_rlvr_bench.reporting.metrics import Metric, percent
from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import (
    ALPHA,
    MIN_PAIRS_FOR_POWER,
    POWER,
    PairedComparison,
    mean,
    min_pairs_for_sign_flip,
    paired_comparison,
    seeds_needed,
)

if TYPE_CHECKING:
    from peft_rlvr_bench.reporting.leaderboard import Row


@dataclass(frozen=True)
class Comparison:
    """The top method minus ``method`` on the ranking metric, over the seeds both have."""

    method: str
    paired: PairedComparison
    separated: bool


@dataclass(frozen=True)
class Verdict:
    """Which method is best on the ranking metric, if any, and why (or why not)."""

    metric: str
    top: str | None = None
    """The trained method with the highest mean (None without any)."""
    best: str | None = None
    """``top`` when it is separated from every other trained method, else None."""
    comparisons: tuple[Comparison, ...] = ()
    """``top`` against every other trained method, in table order."""
    note: str = ""
    """The verdict in words, for the Markdown and HTML pages."""


def _per_seed(runs: Iterable[RunResult], metric: Metric) -> dict[int, float]:
    """The metric by seed (mean over duplicate seeds); runs without a seed cannot be paired."""
    by_seed: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        value = metric.read(run)
        if run.seed is not None and value is not None:
            by_seed[run.seed].append(value)
    return {seed: mean(values) for seed, values in by_seed.items()}


def _amount(metric: Metric, value: float) -> str:
    return f"{metric.format(value)} points" if metric.format is percent else metric.format(value)


def _names(methods: Sequence[str], limit: int = 3) -> str:
    shown = list(methods[:limit]) + ([f"{len(methods) - limit} more"] if len(methods) > limit else [])
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def _power_note(top: str, other: Comparison, metric: Metric) -> str:
    paired = other.paired
    floor = min_pairs_for_sign_flip(ALPHA)
    if paired.n < MIN_PAIRS_FOR_POWER:
        return (
            f"{top} and {other.method} share {paired.n} seed(s): too few to tell how many seeds would "
            f"separate them (estimating the paired SD needs at least {MIN_PAIRS_FOR_POWER})."
        )
    needed = seeds_needed(paired.difference, paired.sd)
    if needed is None:
        return (
            f"{top} and {other.method} have a mean paired difference of 0 over {paired.n} seeds: "
            "no number of seeds can be estimated to separate them."
        )
    difference = ("+" if paired.difference > 0 else "-") + _amount(metric, abs(paired.difference))
    note = (
        f"Separating {top} from {other.method} (mean paired difference {difference}, SD "
        f"{_amount(metric, paired.sd)}, over {paired.n} seeds) would take about {needed} seeds "
        f"(normal approximation, {POWER:.0%} power, two-sided α = {ALPHA:g})."
    )
    if paired.n < floor:
        note += (
            f" With {paired.n} seeds the exact sign-flip test cannot give p below {2.0 ** (1 - paired.n):g}; "
            f"it needs at least {floor} to reach p < {ALPHA:g}."
        )
    return note


def verdict(rows: Sequence[Row], ok_by_method: Mapping[str, Sequence[RunResult]], metric: Metric) -> Verdict:
    """Decides the best-method mark on ``metric`` (module docstring) from the method rows.

    ``rows`` are method rows in table order (no base row); the candidates are the rows that are
    not extrapolations and have a value. The top one is compared with each other candidate on
    their shared seeds, from the ok runs of each method in ``ok_by_method``.
    """
    candidates = [row for row in rows if not row.derived and row.value(metric.name) is not None]
    if not candidates:
        return Verdict(metric.name)
    top = candidates[0].method
    if len(candidates) == 1:
        note = f"Only one trained method ({top}) has a {metric.header.lower()} score: nothing to compare."
        return Verdict(metric.name, top, note=note)
    top_seeds = _per_seed(ok_by_method[top], metric)
    comparisons = []
    for row in candidates[1:]:
        paired = paired_comparison(top_seeds, _per_seed(ok_by_method[row.method], metric))
        comparisons.append(Comparison(row.method, paired, paired.separated()))
    rule = (
        f"against every other trained method on the seeds both have, the 95% bootstrap CI of the paired "
        f"difference excludes 0 and the exact two-sided sign-flip test gives p < {ALPHA:g}"
    )
    tied = [c for c in comparisons if not c.separated]
    if not tied:
        note = f"★ {top} is the best method on {metric.header.lower()}: {rule}."
        return Verdict(metric.name, top, top, tuple(comparisons), note)
    note = (
        f"No method is marked best: {top} has the highest mean {metric.header.lower()} but is not separated "
        f"from {_names([c.method for c in tied])} (★ needs: {rule}). {_power_note(top, tied[0], metric)}"
    )
    return Verdict(metric.name, top, None, tuple(comparisons), note)
