"""What a claim is made of (its parts and context lines), the margins, and small text helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peft_rlvr_bench.reporting.claims.reading import Arm, compare, constant
from peft_rlvr_bench.reporting.claims.rules import POINTS, Hypothesis, Part, Scale

EQUIVALENCE_MARGIN = 0.02
"""Accuracy difference (2 points) within which two arms "match", and by which one may trail another
and still count as "no worse": about the 95% binomial half-width of one 500-item accuracy near 90%
(2.6 points), so a smaller difference cannot be told from one eval set's draw."""
RECOVERY_THRESHOLD = 0.99
"""C1's claimed share of the RL gain kept by the rank-1 model."""
LAST_UPDATES = 10
"""Training reward is compared over each run's last this-many updates."""
TINY_MODEL = "tiny"


@dataclass(frozen=True)
class ClaimSpec:
    """A published claim as this report tests it: every part must hold for the claim to."""

    key: str
    title: str
    source: str
    """The papers, by arXiv id."""
    statement: str
    """What the source says, with its own numbers."""
    rule: str
    """How the parts are tested, in words."""
    parts: tuple[Part, ...]
    context: tuple[str, ...] = ()
    """Figures shown with the claim that its verdict does not rest on."""


def part(
    label: str,
    hypothesis: Hypothesis,
    a: Arm | None,
    b: Arm | None,
    missing: str,
    scale: Scale = POINTS,
) -> Part:
    """The part ``A - B`` satisfies ``hypothesis``; ``missing`` names what is absent when it cannot be
    measured (no runs, or no shared seeds)."""
    comparison = compare(a, b)
    return Part(label, hypothesis, comparison, scale, "" if comparison is not None else missing)


def one_sample(
    label: str, hypothesis: Hypothesis, a: Arm | None, missing: str, scale: Scale = POINTS
) -> Part:
    """The part ``A`` (itself, against 0 at every seed) satisfies ``hypothesis``."""
    return part(label, hypothesis, a, constant(0.0, a) if a is not None else None, missing, scale)


def estimate_text(found: Arm | None, scale: Scale = POINTS) -> str:
    """``mean [95% t interval] (n=seeds)`` over seeds, or ``not measured``."""
    if found is None:
        return "not measured"
    interval = found.estimate()
    spread = f" [{scale.number(interval.low)}, {scale.number(interval.high)}]" if interval.n > 1 else ""
    return f"{scale.text(interval.estimate)}{spread} (n={interval.n})"


def where_measured(model: dict[str, Any] | None) -> str:
    """``"in the tiny world"`` for the embedded model, ``"on <model name>"`` otherwise."""
    model = model or {}
    name = model.get("name") or TINY_MODEL
    if name == TINY_MODEL:
        return "in the tiny world"
    return f"on {name}"
