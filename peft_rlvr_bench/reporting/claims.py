"""The claims report: six published claims about RLVR, each with our figure, its CI and a verdict.

A pure function of a suite's result files (``suites/claims.yaml`` names the runs each claim
needs), plus two plots that read the runs' saved weights when they are on disk. Verdicts follow
fixed rules, stated in the report, so a rerun cannot talk itself into a different reading:

- "matches" claims (an extrapolation or intervention keeps accuracy) are equivalence tests: the
  95% CI of the paired per-seed difference must lie within +-``EQUIVALENCE_POINTS``
  (reproduced), or lie wholly outside it (not reproduced); anything else is inconclusive;
- threshold claims (>= 99% of the gain) compare the CI with the threshold the same way;
- order claims (A > B) need the paired difference's CI above 0; wholly at or below 0 is "not
  reproduced".

CIs are 95% Student-t intervals over seeds (``stats.t_interval``); with 3 seeds they are wide,
which is what "inconclusive at this power" reports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.results import RunResult, write_text_atomic
from peft_rlvr_bench.reporting.stats import mean, t_interval

Verdict = Literal["reproduced", "not reproduced", "inconclusive at this power", "not measured"]

EQUIVALENCE_POINTS = 2.0
"""Accuracy points within which a paired difference counts as "matches" (about the 95% binomial
half-width of one 500-item accuracy near 90%, so smaller differences are not resolvable)."""
LAST_UPDATES = 10
"""Training reward is compared over each run's last this-many updates."""
REPORT_NAME = "CLAIMS.md"
SPECTRA_PLOT = "claims_spectra.png"
LAYERS_PLOT = "claims_layers.png"


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds with its 95% Student-t interval (nan bounds below two values)."""

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Estimate:
        interval = t_interval(values)
        return cls(interval.estimate, interval.low, interval.high, len(values))

    def text(self, scale: float = 100.0, unit: str = "", digits: int = 1) -> str:
        spread = f" [{self.low * scale:.{digits}f}, {self.high * scale:.{digits}f}]" if self.n > 1 else ""
        return f"{self.mean * scale:.{digits}f}{unit}{spread} (n={self.n})"


@dataclass
class Claim:
    key: str
    title: str
    source: str
    statement: str
    verdict: Verdict = "not measured"
    figures: list[str] = field(default_factory=list)
    reasoning: str = ""


# ---------------------------------------------------------------------------------------------
# Verdict rules


def equivalence(diff: Estimate, margin: float) -> Verdict:
    """Reproduced when the CI lies within +-margin, not when it lies wholly outside."""
    if -margin <= diff.low and diff.high <= margin:
        return "reproduced"
    if diff.high < -margin or diff.low > margin:
        return "not reproduced"
    return "inconclusive at this power"


def at_least(value: Estimate, threshold: float) -> Verdict:
    if value.low >= threshold:
        return "reproduced"
    if value.high < threshold:
        return "not reproduced"
    return "inconclusive at this power"


def above_zero(diff: Estimate) -> Verdict:
    if diff.low > 0:
        return "reproduced"
    if diff.high <= 0:
        return "not reproduced"
    return "inconclusive at this power"


def below_zero(diff: Estimate) -> Verdict:
    return above_zero(Estimate(-diff.mean, -diff.high, -diff.low, diff.n))


def not_worse(diff: Estimate, margin: float) -> Verdict:
    """Non-inferiority: the CI's lower end no more than ``margin`` below 0."""
    if diff.low >= -margin:
        return "reproduced"
    if diff.high < -margin:
        return "not reproduced"
    return "inconclusive at this power"


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """All parts must hold: any part refuted refutes the claim; any part open leaves it open."""
    if "not measured" in verdicts:
        return "not measured"
    if "not reproduced" in verdicts:
        return "not reproduced"
    if "inconclusive at this power" in verdicts:
        return "inconclusive at this power"
    return "reproduced"


# ---------------------------------------------------------------------------------------------
# Reading results


Runs = Mapping[str, Mapping[int, RunResult]]
"""Result by method label (derived runs: their display name) and seed; ok runs only."""


def by_method(runs: Sequence[RunResult]) -> dict[str, dict[int, RunResult]]:
    table: dict[str, dict[int, RunResult]] = defaultdict(dict)
    for run in runs:
        if run.status == "ok" and run.seed is not None:
            table[run.method][run.seed] = run
    return dict(table)


def in_domain(run: RunResult) -> float:
    return run.metrics["in_domain"].score


def forgetting(run: RunResult, base: RunResult) -> float:
    return base.metrics["forgetting"].score - run.metrics["forgetting"].score


def paired(runs: Runs, a: str, b: str, value: Callable[[RunResult], float | None]) -> Estimate | None:
    """``value(a) - value(b)`` over the seeds both methods have; None when they share none."""
    seeds = sorted(set(runs.get(a, {})) & set(runs.get(b, {})))
    diffs = []
    for seed in seeds:
        first, second = value(runs[a][seed]), value(runs[b][seed])
        if first is not None and second is not None:
            diffs.append(first - second)
    return Estimate.of(diffs) if diffs else None


def single(runs: Runs, method: str, value: Callable[[RunResult], float | None]) -> Estimate | None:
    values = [v for run in runs.get(method, {}).values() if (v := value(run)) is not None]
    return Estimate.of(values) if values else None


def derived_with(runs: Runs, source: str, method: str, observe: int | None = None) -> str | None:
    """The display name of the derived runs of ``source`` by extrapolation ``method``."""
    for name, seeds in runs.items():
        info = next(iter(seeds.values())).extrapolation or {}
        matches = info.get("source_method") == source and info.get("method") == method
        if matches and (observe is None or info.get("observe") == observe):
            return name
    return None


def geometry_value(run: RunResult, key: str) -> float | None:
    headline = (run.geometry or {}).get("headline") or {}
    if key == "update_sparsity":
        return headline.get("update_sparsity")
    return (headline.get("means") or {}).get(key)


def last_reward(run: RunResult) -> float | None:
    rewards = [step.reward_mean for step in run.train_curve if step.reward_mean is not None]
    return mean(rewards[-LAST_UPDATES:]) if rewards else None


# ---------------------------------------------------------------------------------------------
# The claims


def c1_rank1(runs: Runs, base: RunResult) -> Claim:
    claim = Claim(
        "C1",
        "Rank-1 recovers at least 99% of the RL gain",
        "arXiv 2605.06523 (also AlphaRL, arXiv 2510.00553)",
        "Replacing each attention/MLP update by its norm-matched rank-1 component, `W0 + ||dW||_F u1 "
        "v1^T`, keeps at least 99% of the in-domain gain over the base.",
    )
    verdicts = []
    for source in ("full", "lora", "pissa", "geora"):
        name = derived_with(runs, source, "rank1")
        if name is None:
            continue
        recovery = single(runs, name, lambda run: (run.extrapolation or {}).get("gain_recovery"))
        if recovery is None:
            continue
        claim.figures.append(f"{source}: gain recovered {recovery.text(unit='%')}")
        if source == "full":
            verdicts.append(at_least(recovery, 0.99))
    claim.verdict = combine(verdicts) if verdicts else "not measured"
    claim.reasoning = (
        "Verdict on full fine-tuning (the papers' setting): the CI of the recovered share against 99%. "
        "The LoRA-family rows are context: their update is already rank <= r."
    )
    return claim


def c2_relex(runs: Runs) -> Claim:
    claim = Claim(
        "C2",
        "RELEX from a 15% window matches the full run, and stays good 10x beyond it",
        "RELEX, arXiv 2605.21468",
        "A rank-1 trajectory-space extrapolation from the first 15% of RL updates predicts a "
        "checkpoint as good as the real run at the end, and still does 10x beyond the window.",
    )
    verdicts = []
    windows = ((15, "15% window (observe 15, predict 100)"), (10, "10x beyond (observe 10, predict 100)"))
    for observe, label in windows:
        name = derived_with(runs, "full", "relex", observe)
        if name is None:
            continue
        diff = paired(runs, name, "full", in_domain)
        if diff is None:
            continue
        claim.figures.append(f"{label}: RELEX minus the real run at 100, {diff.text(unit=' points')}")
        verdicts.append(equivalence(diff, EQUIVALENCE_POINTS / 100))
    claim.verdict = combine(verdicts) if verdicts else "not measured"
    claim.reasoning = f"Both parts must be equivalent to the real run within +-{EQUIVALENCE_POINTS:g} points."
    return claim


def c3_sparsity(runs: Runs) -> Claim:
    claim = Claim(
        "C3",
        "RLVR's bf16 updates are far sparser than SFT's, and off the principal coordinates",
        "arXiv 2511.08567 (The Path Not Taken); METHODS.md §3",
        "RLVR leaves 36-92% of bf16 weights bitwise unchanged against SFT's 0.6-18.8%, and the "
        "coordinates it changes avoid W0's principal ones (overlap with M_princ below random).",
    )
    rl, sft = "full", "full-sft"
    sparsity_rl = single(runs, rl, lambda run: geometry_value(run, "update_sparsity"))
    sparsity_sft = single(runs, sft, lambda run: geometry_value(run, "update_sparsity"))
    diff = paired(runs, rl, sft, lambda run: geometry_value(run, "update_sparsity"))
    verdicts: list[Verdict] = []
    if sparsity_rl and sparsity_sft and diff:
        claim.figures.append(f"bf16 unchanged, RLVR (full GRPO): {sparsity_rl.text(unit='%')}")
        claim.figures.append(f"bf16 unchanged, SFT (same updates and rate): {sparsity_sft.text(unit='%')}")
        claim.figures.append(f"RLVR minus SFT: {diff.text(unit=' points')}")
        verdicts.append(above_zero(diff))
    else:
        verdicts.append("not measured")  # the contrast with SFT is the claim's first half
    overlap = single(runs, rl, lambda run: _overlap_excess(run))
    if overlap is not None:
        claim.figures.append(
            f"RLVR's changed coordinates in M_princ minus the random baseline: {overlap.text(unit=' points')}"
        )
        verdicts.append(below_zero(overlap))
    claim.verdict = combine(verdicts) if verdicts else "not measured"
    claim.reasoning = (
        "Sparser: the paired RLVR-minus-SFT difference of the unchanged share must be above 0. Off "
        "principal: the overlap with W0's principal mask (k = 16) must be below its random baseline. "
        "The tiny world trains in float32; sparsity compares the weights rounded to bf16."
    )
    return claim


def _overlap_excess(run: RunResult) -> float | None:
    overlap, baseline = geometry_value(run, "princ_overlap"), geometry_value(run, "princ_baseline")
    return None if overlap is None or baseline is None else overlap - baseline


def c4_order(runs: Runs, base: RunResult) -> Claim:
    claim = Claim(
        "C4",
        "GeoRA >= LoRA > PiSSA in-domain, with less forgetting",
        "GeoRA (METHODS.md §1)",
        "GeoRA matches or beats LoRA in-domain and forgets less; LoRA beats PiSSA in-domain.",
    )
    geora_lora = paired(runs, "geora", "lora", in_domain)
    lora_pissa = paired(runs, "lora", "pissa", in_domain)
    forget = paired(runs, "lora", "geora", lambda run: forgetting(run, base))
    if not (geora_lora and lora_pissa and forget):
        return claim
    claim.figures += [
        f"GeoRA minus LoRA, in-domain: {geora_lora.text(unit=' points')}",
        f"LoRA minus PiSSA, in-domain: {lora_pissa.text(unit=' points')}",
        f"LoRA's forgetting minus GeoRA's: {forget.text(unit=' points')}",
    ]
    margin = EQUIVALENCE_POINTS / 100
    claim.verdict = combine([not_worse(geora_lora, margin), above_zero(lora_pissa), above_zero(forget)])
    claim.reasoning = (
        f"GeoRA >= LoRA: non-inferiority, the paired CI's lower end at or above -{EQUIVALENCE_POINTS:g} "
        "points; LoRA > PiSSA and less forgetting: the paired CI above 0. Each method runs at its "
        "tuned rate (tiny-peft-lr)."
    )
    return claim


def c5_next(runs: Runs) -> Claim:
    claim = Claim(
        "C5",
        "NExt saves about 37.5% of the RL steps",
        "NExt, arXiv 2604.11446",
        "NExt reaches the full run's accuracy with about 37.5% fewer RL updates (250 against 400).",
    )
    name = derived_with(runs, "lora", "next")
    if name is None:
        return claim
    diff = paired(runs, name, "lora", in_domain)
    used = single(runs, name, lambda run: float((run.extrapolation or {})["updates_used"]))
    target = single(runs, name, lambda run: float((run.extrapolation or {})["target"]))
    if diff is None or used is None or target is None:
        return claim
    saving = 1 - used.mean / target.mean
    claim.figures += [
        f"real updates used: {used.mean:.0f} of {target.mean:.0f} ({100 * saving:.1f}% fewer)",
        f"NExt minus the real LoRA run at {target.mean:.0f}: {diff.text(unit=' points')}",
    ]
    claim.verdict = equivalence(diff, EQUIVALENCE_POINTS / 100)
    claim.reasoning = (
        f"With {100 * saving:.1f}% fewer updates by construction, the claim holds if the accuracy is "
        f"equivalent to the real run's within +-{EQUIVALENCE_POINTS:g} points."
    )
    return claim


def c6_substitution(runs: Runs) -> Claim:
    claim = Claim(
        "C6",
        "Rank-1 substitution keeps test accuracy while training reward drops",
        "arXiv 2605.06523 (implicit reward overfitting)",
        "Substituting each update by its rank-1 component every K updates keeps held-out accuracy, "
        "while the training reward stays lower.",
    )
    accuracy = paired(runs, "full-rank1sub", "full", in_domain)
    reward = paired(runs, "full", "full-rank1sub", last_reward)
    if accuracy is None or reward is None:
        return claim
    claim.figures += [
        f"held-out accuracy, with minus without: {accuracy.text(unit=' points')}",
        f"training reward over the last {LAST_UPDATES} updates, without minus with: "
        f"{reward.text(scale=1.0, digits=3)}",
    ]
    claim.verdict = combine([equivalence(accuracy, EQUIVALENCE_POINTS / 100), above_zero(reward)])
    claim.reasoning = (
        f"Accuracy kept: equivalent within +-{EQUIVALENCE_POINTS:g} points; reward drops: the paired "
        "difference above 0."
    )
    return claim


def evaluate_claims(base: RunResult, runs: Sequence[RunResult]) -> list[Claim]:
    table = by_method(runs)
    return [
        c1_rank1(table, base),
        c2_relex(table),
        c3_sparsity(table),
        c4_order(table, base),
        c5_next(table),
        c6_substitution(table),
    ]


# ---------------------------------------------------------------------------------------------
# The report


def render(suite: str, claims: Sequence[Claim], plots: Sequence[str], command: str) -> str:
    lines = [
        f"# Claims: {suite}",
        "",
        "Each claim from the papers this harness starts from, measured in the tiny world: our figure "
        "with its 95% Student-t interval over seeds, and a verdict by a fixed rule (module "
        "`peft_rlvr_bench/reporting/claims.py`). A claim that does not reproduce here is a finding "
        "about this world, not a failure of the harness.",
        "",
        f"Regenerate everything with {command}.",
        "",
        "| claim | verdict |",
        "|---|---|",
        *(f"| {c.key}: {c.title} | **{c.verdict}** |" for c in claims),
        "",
    ]
    for claim in claims:
        lines += [
            f"## {claim.key}: {claim.title}",
            "",
            f"- **Source**: {claim.source}",
            f"- **Claim**: {claim.statement}",
            f"- **Verdict**: **{claim.verdict}**",
            *(f"- {figure}" for figure in claim.figures or ["the suite has no runs for this claim"]),
            f"- **Rule**: {claim.reasoning}" if claim.reasoning else "",
            "",
        ]
    if plots:
        lines += ["## Plots", "", *(f"![{plot}]({plot})\n" for plot in plots)]
    return "\n".join(lines) + "\n"


def write_claims(
    suite_dir: Path, suite: str, load: Callable[[Path], tuple[RunResult | None, list[RunResult]]], plots: Any
) -> Path:
    """Writes ``CLAIMS.md`` (and the plots ``plots(suite_dir, base, runs)`` returns) into ``suite_dir``."""
    base, runs = load(suite_dir)
    if base is None or not runs:
        raise UserError(f"{suite_dir}: no results to judge; run `prb run suites/{suite}.yaml` first")
    claims = evaluate_claims(base, runs)
    written = plots(suite_dir, base, runs)
    command = f"`make claims` (that is, `prb run suites/{suite}.yaml`, then `prb claims {suite}`)"
    text = render(suite, claims, [p.name for p in written], command)
    path = suite_dir / REPORT_NAME
    write_text_atomic(path, text)
    return path
