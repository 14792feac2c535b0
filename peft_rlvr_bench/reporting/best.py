"""Which method is best, if any: the paired statistics behind the leaderboard's ★ and its power note.

The mark is decided on one metric (in-domain accuracy) among the trained methods, never the base
row, never an extrapolation. Every pair of trained methods is compared on the seeds both have
(:func:`~peft_rlvr_bench.reporting.stats.paired_comparison`: paired Student t over seeds, or
seeds x items when both stored per-item scores on the same items), and the p-values are
Holm-adjusted over that whole family: the top method was picked by looking at every method, and
a family of only "top against each other" lets identical methods look separated 6-12% of the
time (``docs/statistics.md``). The top method by mean gets ★ only when its Holm-adjusted p
against every other trained method is below 0.05.

When it is not separated, the note names the methods it ties with and, for the closest, the
seeds a paired t would need (80% power at Holm's strictest threshold, 0.05 / pairs), planned for
the observed difference or for a 1-point minimum detectable effect when the observed one is
smaller; or says that item noise, not seeds, is what keeps them apart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from itertools import combinations

from peft_rlvr_bench.reporting.board import Comparison, Row, Verdict
from peft_rlvr_bench.reporting.metrics import Metric, percent
from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import (
    ALPHA,
    MIN_DETECTABLE_EFFECT,
    POWER,
    RunItems,
    holm,
    item_limited,
    mean,
    paired_comparison,
)


def per_seed(
    runs: Iterable[RunResult], metric: Metric
) -> tuple[dict[int, float], dict[int, RunItems | None]]:
    """The metric by seed (mean over duplicate seeds) and, where read, the per-item scores by seed.

    Runs without a seed cannot be paired; a duplicated seed keeps no item scores (which of its
    runs would they be?).
    """
    by_seed: dict[int, list[float]] = defaultdict(list)
    items: dict[int, RunItems | None] = {}
    for run in runs:
        value = metric.read(run)
        if run.seed is not None and value is not None:
            by_seed[run.seed].append(value)
            read = metric.items(run) if metric.items is not None else None
            items[run.seed] = read if run.seed not in items else None
    return {seed: mean(values) for seed, values in by_seed.items()}, items


def pairs_text(family: int) -> str:
    """``"1 pair"``, ``"3 pairs"``."""
    return f"{family} pair" if family == 1 else f"{family} pairs"


def _amount(metric: Metric, value: float) -> str:
    return f"{metric.format(value)} points" if metric.format is percent else metric.format(value)


def _names(methods: Sequence[str], limit: int = 3) -> str:
    shown = list(methods[:limit]) + ([f"{len(methods) - limit} more"] if len(methods) > limit else [])
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def power_note(top: str, other: Comparison, metric: Metric, family: int) -> str:
    """Why ``top`` and ``other.method`` are not separated, and what would separate them."""
    paired = other.paired
    if paired.n < 2:
        return f"{top} and {other.method} share {paired.n} seed(s): a paired test needs at least 2."
    alpha = ALPHA / max(family, 1)
    target = paired.planning_difference()
    planned = (
        f"the observed difference of {_amount(metric, target)}"
        if abs(paired.difference) >= MIN_DETECTABLE_EFFECT
        else f"a {_amount(metric, target)} difference (the observed "
        f"{_amount(metric, abs(paired.difference))} is below that minimum detectable effect)"
    )
    basis = (
        f"paired t, per-seed SD {_amount(metric, paired.sd)}, {POWER:.0%} power, two-sided α = {alpha:.2g}"
        + (f" (0.05 over {pairs_text(family)}, Holm's strictest threshold)" if family > 1 else "")
    )
    if item_limited(target, paired.item_variance, alpha):
        return (
            f"Not separated at this power: item noise alone keeps {planned} between {top} and "
            f"{other.method} below {POWER:.0%} power at any number of seeds ({basis}); more eval items, "
            "not more seeds, would separate them."
        )
    needed = paired.seeds_needed(alpha=alpha)
    if needed is None:
        return f"No seed count can be estimated to separate {top} from {other.method}."
    if needed > paired.n:
        return (
            f"Not separated at this power: needs {needed} seeds to separate {top} from {other.method} "
            f"with {planned} ({basis}); they share {paired.n}."
        )
    return (
        f"{top} and {other.method} share {paired.n} seeds, enough to detect {planned} ({basis}), "
        "and are still not separated: a difference that large is unlikely."
    )


def verdict(
    rows: Sequence[Row],
    ok_by_method: Mapping[str, Sequence[RunResult]],
    metric: Metric,
    controls: Collection[str] = (),
) -> Verdict:
    """Decides the best-method mark on ``metric`` (module docstring) from the method rows.

    ``rows`` are method rows in table order (no base row); the candidates are the rows that are
    not extrapolations or ``controls`` (control arms, ``reporting/controls.py``) and have a
    value. Every pair of candidates is compared on its shared seeds, from the ok runs of each
    method in ``ok_by_method``, and Holm-adjusted as one family.
    """
    candidates = [
        row.method
        for row in rows
        if not row.derived and row.method not in controls and row.value(metric.name) is not None
    ]
    if not candidates:
        return Verdict(metric.name)
    top = candidates[0]
    if len(candidates) == 1:
        note = f"Only one trained method ({top}) has a {metric.header.lower()} score: nothing to compare."
        return Verdict(metric.name, top, note=note)
    seeds = {method: per_seed(ok_by_method[method], metric) for method in candidates}
    pairs = list(combinations(candidates, 2))
    results = [paired_comparison(seeds[a][0], seeds[b][0], seeds[a][1], seeds[b][1]) for a, b in pairs]
    adjusted = holm([result.p_value for result in results])
    family = sum(1 for result in results if result.n >= 2)
    comparisons = tuple(
        Comparison(b, result, p, p < ALPHA)  # nan < ALPHA is False: an untestable pair is not separated
        for (a, b), result, p in zip(pairs, results, adjusted, strict=True)
        if a == top
    )
    rule = (
        f"against every other trained method on the seeds both have, the paired difference's Holm-adjusted "
        f"p (over {pairs_text(family)} of trained methods) is below {ALPHA:g}"
    )
    tied = [c for c in comparisons if not c.separated]
    if not tied:
        note = f"★ {top} is the best method on {metric.header.lower()}: {rule}."
        return Verdict(metric.name, top, top, comparisons, note, family)
    note = (
        f"No method is marked best: {top} has the highest mean {metric.header.lower()} but is not separated "
        f"from {_names([c.method for c in tied])} (★ needs: {rule}). "
        f"{power_note(top, tied[0], metric, family)}"
    )
    return Verdict(metric.name, top, None, comparisons, note, family)
