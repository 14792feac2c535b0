"""The claims page: every claim judged together (one Holm family), rendered to ``CLAIMS.md``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.atomic import write_text_atomic
from peft_rlvr_bench.reporting.claims.catalogue import (
    c1_rank1,
    c2_relex,
    c3_sparsity,
    c5_next,
    c6_substitution,
)
from peft_rlvr_bench.reporting.claims.geora import (
    c4a_geora_over_pissa,
    c4b_geora_over_lora,
    c4c_spectral_shift,
    c4d_forgetting,
    c7_pissa_no_better,
)
from peft_rlvr_bench.reporting.claims.reading import Runs, by_method
from peft_rlvr_bench.reporting.claims.rules import (
    EQUIVALENCE_CONFIDENCE,
    Hypothesis,
    Outcome,
    Scale,
    Verdict,
    combine,
    family_size,
    judge,
)
from peft_rlvr_bench.reporting.claims.spec import ClaimSpec, where_measured
from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import ALPHA, POWER

REPORT_NAME = "CLAIMS.md"

CLAIMS: tuple[Callable[[Runs], ClaimSpec], ...] = (
    c1_rank1,
    c2_relex,
    c3_sparsity,
    c4a_geora_over_pissa,
    c4b_geora_over_lora,
    c4c_spectral_shift,
    c4d_forgetting,
    c5_next,
    c6_substitution,
    c7_pissa_no_better,
)
"""Every claim the report makes, in page order."""


@dataclass(frozen=True)
class Claim:
    """A claim with its parts' outcomes and its verdict."""

    spec: ClaimSpec
    outcomes: tuple[Outcome, ...]
    verdict: Verdict

    @property
    def key(self) -> str:
        return self.spec.key


def evaluate_claims(base: RunResult, runs: Sequence[RunResult]) -> list[Claim]:
    """Every claim of :data:`CLAIMS` on these results, with Holm over all their measured parts."""
    table = by_method(runs)
    specs = [build(table) for build in CLAIMS]
    parts = [part for spec in specs for part in spec.parts]
    outcomes = iter(judge(parts))
    where = where_measured(base.spec.get("model"))
    claims = []
    for spec in specs:
        own = tuple(next(outcomes) for _ in spec.parts)
        claims.append(Claim(spec, own, combine(own, where)))
    return claims


# Rendering ------------------------------------------------------------------------------------


def p_text(p: float) -> str:
    """A p-value with two significant digits; ``-`` when there is none."""
    return "-" if math.isnan(p) else f"{p:.2g}"


def hypothesis_text(hypothesis: Hypothesis, scale: Scale) -> str:
    """What a part claims: ``above 0``, ``at least 99.0%``, ``below +2.0 points``, ``within ±2.0 points``."""
    bound = scale.text(hypothesis.bound)
    if hypothesis.kind == "within":
        return f"within ±{bound}"
    if hypothesis.bound == 0:
        return "above 0" if hypothesis.kind == "above" else "below 0"
    if hypothesis.kind == "above":
        return f"at least {bound}"
    return f"below {'+' if hypothesis.bound > 0 else ''}{bound}"


def difference_text(outcome: Outcome) -> str:
    """``d [low, high] (95%, t over seeds, n=3)``; ``-`` for a missing part."""
    comparison, scale = outcome.part.comparison, outcome.part.scale
    if comparison is None:
        return "-"
    spread = ""
    if not math.isnan(outcome.low):
        spread = f" [{scale.number(outcome.low)}, {scale.number(outcome.high)}]"
    basis = f"{outcome.confidence:.0%}, {comparison.kind}, n={comparison.n}"
    return f"{scale.text(comparison.difference)}{spread} ({basis})"


def outcome_text(outcome: Outcome) -> str:
    """A part's outcome in words, with what would decide it when it is open."""
    if outcome.status == "incomplete":
        return f"not measured ({outcome.part.missing})"
    if outcome.status != "not separated":
        return outcome.status
    n = outcome.part.comparison.n if outcome.part.comparison is not None else 0
    if n < 2:
        return "not separated (a paired test needs at least 2 seeds)"
    if outcome.item_limited:
        return "not separated (item noise: more eval items, not more seeds)"
    if outcome.seeds_needed is None:
        return "not separated (seeds needed not estimable)"
    if outcome.seeds_needed <= n:
        return f"not separated ({n} seeds suffice for the observed difference: it is likely smaller)"
    return f"not separated (needs {outcome.seeds_needed} seeds)"


def _claim_section(claim: Claim) -> list[str]:
    spec = claim.spec
    lines = [
        f"## {spec.key}: {spec.title}",
        "",
        f"- **Source**: {spec.source}",
        f"- **Claim**: {spec.statement}",
        f"- **Verdict**: **{claim.verdict.text()}**",
        "",
        "| part | claimed | difference [interval] | p | Holm p | outcome |",
        "|---|---|---|--:|--:|---|",
    ]
    for outcome in claim.outcomes:
        part = outcome.part
        cells = (
            part.label,
            hypothesis_text(part.hypothesis, part.scale),
            difference_text(outcome),
            p_text(outcome.p),
            p_text(outcome.p_holm),
            outcome_text(outcome),
        )
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- {line}" for line in spec.context]
    lines += [f"- **Rule**: {spec.rule}", ""]
    return lines


def intro(suite: str, claims: Sequence[Claim], command: str) -> list[str]:
    """The page's opening: where it was measured, what the verdicts and intervals mean, the family."""
    where = claims[0].verdict.where if claims else "in the tiny world"
    family = family_size([o for claim in claims for o in claim.outcomes])
    seeds = sorted({o.part.comparison.n for c in claims for o in c.outcomes if o.part.comparison is not None})
    seeds_text = (
        "-".join(map(str, (seeds[0], seeds[-1]))) if len(seeds) > 1 else (str(seeds[0]) if seeds else "0")
    )
    return [
        f"# Claims: {suite}",
        "",
        f"Published claims about RLVR and PEFT, each measured {where} ({seeds_text} paired seeds per "
        "comparison), with our figures and a verdict by a fixed rule. A claim that does not reproduce "
        f"{where} is a finding about this setting, not about the paper's. `docs/claims.md` says what each "
        "claim measures and how to read the page.",
        "",
        "- **Verdicts.** *reproduced* / *contradicted*: every part's test decided (after Holm) and all "
        "parts hold / at least one part is decided against the claim. *not separated at this power "
        "(needs N seeds)*: no part is against it but at least one is undecided; N is the largest number "
        "of paired seeds any undecided part needs. *incomplete*: a part was not measured; the claim is "
        "not rated from the parts that exist.",
        f"- **Tests.** Order and margin parts: the paired difference A - B (Student t over seeds, or seeds "
        f"x items when both arms stored item scores on the same items) against its bound, shown with its "
        f"{1 - ALPHA:.0%} interval. Equivalence parts: two one-sided tests (TOST) at the margin, shown "
        f"with the {EQUIVALENCE_CONFIDENCE:.0%} interval, which lies inside the margin exactly when a "
        f"{ALPHA:g}-level TOST passes.",
        f"- **Holm family.** The {family} parts measured on this page (every part of every claim with a "
        f"p-value). A part is reproduced or contradicted only when its Holm-adjusted p is below {ALPHA:g}; "
        f"seeds needed are for {POWER:.0%} power at {ALPHA:g} / {max(family, 1)} (Holm's strictest "
        "threshold), planned for the observed difference, or for 1 point when an accuracy difference is "
        "smaller than that.",
        "",
        f"Regenerate with {command}.",
        "",
        "| claim | verdict |",
        "|---|---|",
        *(f"| {c.key}: {c.spec.title} | **{c.verdict.headline}** |" for c in claims),
        "",
    ]


def render(suite: str, claims: Sequence[Claim], plots: Sequence[str], command: str) -> str:
    """The whole ``CLAIMS.md`` text."""
    lines = intro(suite, claims, command)
    for claim in claims:
        lines += _claim_section(claim)
    if plots:
        lines += ["## Plots", "", *(f"![{plot}]({plot})\n" for plot in plots)]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_claims(
    suite_dir: Path, suite: str, load: Callable[[Path], tuple[RunResult | None, list[RunResult]]], plots: Any
) -> Path:
    """Writes ``CLAIMS.md`` (and the plots ``plots(suite_dir, base, runs)`` returns) into ``suite_dir``."""
    base, runs = load(suite_dir)
    if base is None or not runs:
        raise UserError(f"{suite_dir}: no results to judge; run `prb run suites/{suite}.yaml` first")
    claims = evaluate_claims(base, runs)
    measured = [claim.key for claim in claims if claim.verdict.status != "incomplete"]
    if 2 * len(measured) <= len(claims):
        # Most claims need runs only the claims suite makes (rank-1 rebuilds, RELEX, SFT, NExt); a
        # page of "incomplete" verdicts would look like a finished report of another suite.
        raise UserError(
            f"{suite_dir}: not a claims suite: its runs measure {len(measured)} of {len(claims)} claims "
            f"({', '.join(measured) or 'none'}); run `prb run claims`, then `prb claims claims`"
        )
    written = plots(suite_dir, base, runs)
    command = f"`make claims` (that is, `prb run suites/{suite}.yaml`, then `prb claims {suite}`)"
    text = render(suite, claims, [p.name for p in written], command)
    path = suite_dir / REPORT_NAME
    write_text_atomic(path, text)
    return path
