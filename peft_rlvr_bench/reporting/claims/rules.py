"""The claims report's verdict rules: one test per part of a claim, Holm over the report, seeds needed.

Pure functions of :class:`~peft_rlvr_bench.reporting.stats.PairedComparison` objects (the
statistics module computes every difference, standard error, degrees of freedom and interval);
this module only decides what they say about a claim. ``docs/claims.md`` states the rules for
readers; in short, a part claims one of three things about its difference ``d = A - B``:

- ``above(b)`` / ``below(b)``: ``d > b`` or ``d < b`` (an order claim is ``b = 0``; a
  non-inferiority or threshold claim moves ``b`` to the margin). Its test is the two-sided t of
  ``d - b``; the part is reproduced when that test rejects (after Holm) with ``d`` on the claimed
  side, contradicted when it rejects with ``d`` on the other side. Unadjusted, that is the 95%
  interval lying wholly on one side of ``b``.
- ``within(m)``: ``|d| <= m`` (equivalence). Schuirmann's two one-sided tests (TOST) at 5% each:
  reproduced when both reject, which unadjusted is the **90%** interval lying inside ``+-m``;
  contradicted when the one-sided test that ``d`` lies beyond the nearer edge rejects (the 90%
  interval wholly outside). The 90% interval is what a 5%-level TOST is; a 95% interval would be a
  2.5% test per side, stricter than every other part of the report.

Every part gives one p-value, the one of the conclusion its estimate points to (at most one of
the two can be small), and the report Holm-adjusts them as one family: every measured part of
every claim on the page.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import stats as scipy_stats

from peft_rlvr_bench.reporting.stats import (
    ALPHA,
    MAX_SEEDS,
    MIN_DETECTABLE_EFFECT,
    POWER,
    PairedComparison,
    holm,
    power_at,
    smallest_seeds,
)

Status = Literal["reproduced", "contradicted", "not separated", "incomplete"]
NAN = float("nan")
EQUIVALENCE_CONFIDENCE = 1 - 2 * ALPHA
"""The interval a 5%-level TOST reads: 90%."""


@dataclass(frozen=True)
class Hypothesis:
    """What a part claims about its difference ``d``: above or below ``bound``, or within ``+-bound``."""

    kind: Literal["above", "below", "within"]
    bound: float = 0.0


def above(bound: float = 0.0) -> Hypothesis:
    """``d > bound`` (an order claim at 0; non-inferiority or a threshold at the margin)."""
    return Hypothesis("above", bound)


def below(bound: float = 0.0) -> Hypothesis:
    """``d < bound`` (an order claim at 0; non-superiority at the margin)."""
    return Hypothesis("below", bound)


def within(margin: float) -> Hypothesis:
    """``|d| <= margin``: equivalence, tested by TOST."""
    return Hypothesis("within", margin)


@dataclass(frozen=True)
class Scale:
    """How a part's quantity reads: ``value * factor`` in ``spec`` format, with ``unit``.

    ``mde`` is the smallest difference a seed count is planned for (the statistics module's
    1-point rule for accuracies and recovered shares); None plans for the observed difference, for
    quantities on another scale (spectral shift, reward).
    """

    factor: float = 100.0
    unit: str = " points"
    spec: str = ".1f"
    mde: float | None = MIN_DETECTABLE_EFFECT

    def number(self, value: float) -> str:
        """``value`` in this scale without its unit, ``-`` when it is nan."""
        if math.isnan(value):
            return "-"
        # Adding 0.0 turns a rounded -0.0 into 0.0, which would read as a tiny loss.
        return f"{float(format(value * self.factor, self.spec)) + 0.0:{self.spec}}"

    def text(self, value: float) -> str:
        """``value`` in this scale with its unit."""
        return self.number(value) + ("" if math.isnan(value) else self.unit)


POINTS = Scale()
"""Accuracy differences, in points."""
SHARE = Scale(unit="%")
"""Fractions such as a recovered share of the gain, in percent."""


@dataclass(frozen=True)
class Part:
    """One testable statement of a claim: its comparison, or why it is missing."""

    label: str
    hypothesis: Hypothesis
    comparison: PairedComparison | None
    scale: Scale = POINTS
    missing: str = ""
    """What is not measured, when ``comparison`` is None."""


@dataclass(frozen=True)
class Outcome:
    """A part after the report's Holm adjustment."""

    part: Part
    status: Status
    p: float
    """The part's own p-value (nan when it cannot be tested: a missing part, fewer than 2 seeds)."""
    p_holm: float
    low: float
    high: float
    confidence: float
    """Of the interval shown: 0.95, or 0.90 for an equivalence part."""
    seeds_needed: int | None = None
    """Paired seeds for 80% power at Holm's strictest threshold (not separated parts only)."""
    item_limited: bool = False
    """Item noise alone keeps the power below 80% at any number of seeds."""


# p-values ------------------------------------------------------------------------------------


def _upper_tail(shift: float, se: float, df: float) -> float:
    """P(T >= shift / se) for Student t with ``df``; a zero SE is exact (0 or 1)."""
    if se == 0:
        return 0.0 if shift > 0 else 1.0
    return float(scipy_stats.t.sf(shift / se, df))


def tost_p(difference: float, se: float, df: float, margin: float) -> float:
    """TOST p of ``|d| <= margin``: the larger of the two one-sided p-values at the margin's edges."""
    return max(_upper_tail(difference + margin, se, df), _upper_tail(margin - difference, se, df))


def beyond_p(difference: float, se: float, df: float, margin: float) -> float:
    """One-sided p that ``d`` lies beyond the margin edge its estimate is nearer to."""
    return min(_upper_tail(difference - margin, se, df), _upper_tail(-margin - difference, se, df))


def bound_p(difference: float, se: float, df: float, bound: float) -> float:
    """Two-sided p of ``d == bound`` (the paired t shifted to the bound)."""
    return min(1.0, 2 * min(_upper_tail(difference - bound, se, df), _upper_tail(bound - difference, se, df)))


def testable(comparison: PairedComparison | None) -> bool:
    """At least 2 shared seeds and a finite standard error."""
    return comparison is not None and comparison.n >= 2 and math.isfinite(comparison.se)


def part_p(part: Part) -> float:
    """The part's p-value for the conclusion its estimate points to (nan when untestable)."""
    c = part.comparison
    if c is None or not testable(c):
        return NAN
    h = part.hypothesis
    if h.kind == "within":
        return min(tost_p(c.difference, c.se, c.df, h.bound), beyond_p(c.difference, c.se, c.df, h.bound))
    return bound_p(c.difference, c.se, c.df, h.bound)


def points_to(part: Part) -> Literal["reproduced", "contradicted"]:
    """Which conclusion the estimate points to (the one ``part_p`` tests)."""
    c, h = part.comparison, part.hypothesis
    assert c is not None
    if h.kind == "within":
        return "reproduced" if abs(c.difference) <= h.bound else "contradicted"
    claimed_side = c.difference > h.bound if h.kind == "above" else c.difference < h.bound
    return "reproduced" if claimed_side else "contradicted"


def interval(part: Part) -> tuple[float, float, float]:
    """(low, high, confidence): the 95% interval, or the 90% interval TOST reads for ``within``."""
    c = part.comparison
    if c is None:
        return NAN, NAN, NAN
    if part.hypothesis.kind != "within":
        return c.ci_low, c.ci_high, 1 - ALPHA
    if not testable(c):
        return NAN, NAN, EQUIVALENCE_CONFIDENCE
    half = 0.0 if c.se == 0 else float(scipy_stats.t.ppf(1 - ALPHA, c.df)) * c.se
    return c.difference - half, c.difference + half, EQUIVALENCE_CONFIDENCE


# Seeds needed ----------------------------------------------------------------------------------


def _planned(effect: float, scale: Scale) -> float:
    return max(effect, scale.mde) if scale.mde is not None else effect


def power_function(part: Part, alpha: float) -> Callable[[int, float], float] | None:
    """``(seeds, sd) -> power`` of the part's test at ``alpha``, planned for its observed difference
    (None when there is none). An order or margin part plans the two-sided t for ``|d - bound|``; an
    equivalence part inside its margin plans TOST, whose power is at least ``P(lower test) +
    P(upper test) - 1``, and outside its margin the one-sided test that it lies beyond. Effects below
    the scale's minimum detectable effect are planned at that effect."""
    c, h = part.comparison, part.hypothesis
    if c is None or c.n < 2 or math.isnan(c.difference):
        return None
    variance = c.item_variance
    if h.kind != "within":
        effect = _planned(abs(c.difference - h.bound), part.scale)
        return lambda seeds, sd: power_at(seeds, effect, sd, variance, alpha, 2)
    if abs(c.difference) >= h.bound:
        beyond = _planned(abs(c.difference) - h.bound, part.scale)
        return lambda seeds, sd: power_at(seeds, beyond, sd, variance, alpha, 1)
    near, far = _planned(h.bound - abs(c.difference), part.scale), h.bound + abs(c.difference)

    def tost(seeds: int, sd: float) -> float:
        both = power_at(seeds, near, sd, variance, alpha, 1) + power_at(seeds, far, sd, variance, alpha, 1)
        return max(both - 1.0, 0.0)

    return tost


def plan_seeds(part: Part, alpha: float) -> tuple[int | None, bool]:
    """(paired seeds for 80% power at ``alpha``, whether item noise alone rules that out)."""
    c = part.comparison
    planned = power_function(part, alpha)
    if c is None or planned is None or not math.isfinite(c.sd):
        return None, False
    if c.item_variance > 0 and not planned(MAX_SEEDS, 0.0) >= POWER:
        return None, True  # the item part of the variance does not shrink with seeds
    return smallest_seeds(lambda seeds: planned(seeds, c.sd)), False


# The family ----------------------------------------------------------------------------------


def judge(parts: Sequence[Part], alpha: float = ALPHA) -> list[Outcome]:
    """Every part's outcome, with Holm over the family of all testable parts given.

    Seeds needed are planned at ``alpha`` over the family size (Holm's strictest threshold), so
    the number suffices whatever the other parts do, as on the leaderboards.
    """
    p_values = [part_p(part) for part in parts]
    adjusted = holm(p_values, alpha)
    family = sum(1 for p in p_values if not math.isnan(p))
    planning_alpha = alpha / max(family, 1)
    outcomes = []
    for part, p, p_holm in zip(parts, p_values, adjusted, strict=True):
        low, high, confidence = interval(part)
        if part.comparison is None:
            outcomes.append(Outcome(part, "incomplete", p, p_holm, low, high, confidence))
        elif p_holm < alpha:  # nan compares False: an untestable part is not separated
            outcomes.append(Outcome(part, points_to(part), p, p_holm, low, high, confidence))
        else:
            needed, limited = plan_seeds(part, planning_alpha)
            outcomes.append(Outcome(part, "not separated", p, p_holm, low, high, confidence, needed, limited))
    return outcomes


def family_size(outcomes: Sequence[Outcome]) -> int:
    """Parts in the Holm family: those with a p-value."""
    return sum(1 for outcome in outcomes if not math.isnan(outcome.p))


# A claim's verdict ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict from all of its parts, and where it was measured."""

    status: Status
    where: str
    """``"in the tiny world"`` or ``"on <model>"``."""
    seeds_needed: int | None = None
    seeds: int = 0
    """The most seeds any of its parts shares (for "needs N seeds" against what it has)."""
    item_limited: bool = False
    missing: tuple[str, ...] = ()

    def text(self) -> str:
        """The verdict in words, e.g. ``not separated at this power (needs 9 seeds) in the tiny world``."""
        if self.status == "incomplete":
            return f"incomplete {self.where} (not measured: {'; '.join(self.missing)})"
        if self.status != "not separated":
            return f"{self.status} {self.where}"
        return f"not separated at this power ({self.need_text()}) {self.where}"

    @property
    def headline(self) -> str:
        """The verdict's short form for the summary table."""
        if self.status == "not separated":
            return f"not separated at this power ({self.need_text()})"
        if self.status == "incomplete":
            return f"incomplete (not measured: {'; '.join(self.missing)})"
        return self.status

    def need_text(self) -> str:
        if self.item_limited:
            return "more eval items, not more seeds"
        if self.seeds_needed is None:
            return "seeds needed not estimable"
        if self.seeds_needed <= self.seeds:
            return f"{self.seeds} seeds already suffice for the observed differences"
        return f"needs {self.seeds_needed} seeds"


def combine(outcomes: Sequence[Outcome], where: str) -> Verdict:
    """All parts must hold: a missing part makes the claim incomplete (never rated from the rest),
    a contradicted part contradicts it, and any part not separated leaves it open, needing the most
    seeds any such part needs."""
    missing = tuple(o.part.missing or o.part.label for o in outcomes if o.status == "incomplete")
    if not outcomes:
        return Verdict("incomplete", where, missing=("no parts",))
    if missing:
        return Verdict("incomplete", where, missing=missing)
    if any(o.status == "contradicted" for o in outcomes):
        return Verdict("contradicted", where)
    open_parts = [o for o in outcomes if o.status == "not separated"]
    if not open_parts:
        return Verdict("reproduced", where)
    seeds = max(o.part.comparison.n for o in open_parts if o.part.comparison is not None)
    limited = any(o.item_limited for o in open_parts)
    counts = [o.seeds_needed for o in open_parts]
    needed = None if limited or None in counts else max(c for c in counts if c is not None)
    return Verdict("not separated", where, needed, seeds, limited)
