"""The claims report: fixed verdict rules on hand-made result files with known answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from peft_rlvr_bench.cli import app
from peft_rlvr_bench.reporting.claims import (
    Estimate,
    above_zero,
    at_least,
    combine,
    equivalence,
    evaluate_claims,
    not_worse,
    render,
)
from peft_rlvr_bench.reporting.results import RoleScore, RunResult, StepRecord, TaskScore

SEEDS = (0, 1, 2)


def result(method: str, seed: int | None, in_domain: float, forgetting: float = 0.9, **fields) -> RunResult:
    def role(score: float) -> RoleScore:
        return RoleScore.from_tasks({"t": TaskScore(accuracy=score, n=500)})

    return RunResult(
        suite="claims",
        run_id=f"{method}-s{seed}",
        method=method,
        seed=seed,
        status="ok",
        spec={},
        metrics={"in_domain": role(in_domain), "forgetting": role(forgetting)},
        **fields,
    )


def derived(source: str, method: str, seed: int, in_domain: float, observe: int = 100, **info) -> RunResult:
    extrapolation = {"source_method": source, "method": method, "observe": observe, "target": 100, **info}
    return result(f"{source}+{method}@{observe}", seed, in_domain, extrapolation=extrapolation)


def geometry(unchanged: float, overlap: float, baseline: float) -> dict:
    means = {"princ_overlap": overlap, "princ_baseline": baseline}
    return {"headline": {"update_sparsity": unchanged, "means": means}, "by_depth": {}}


def rewards(value: float) -> list[StepRecord]:
    return [StepRecord(step=i, reward_mean=value) for i in range(1, 21)]


BASE = result("base", None, 0.50, forgetting=0.95)


def claims_world(rank1_recovery: float = 0.995, relex_gap: float = 0.002, sub_gap: float = -0.001) -> list:
    runs = []
    for seed in SEEDS:
        wobble = 0.002 * seed
        runs += [
            result(
                "full", seed, 0.88 + wobble, train_curve=rewards(0.80), geometry=geometry(0.9, 0.01, 0.05)
            ),
            result("full-sft", seed, 0.95, geometry=geometry(0.1, 0.05, 0.05)),
            result("full-rank1sub", seed, 0.88 + wobble + sub_gap, train_curve=rewards(0.70)),
            result("lora", seed, 0.90 + wobble, forgetting=0.90),
            result("pissa", seed, 0.85 + wobble),
            result("geora", seed, 0.905 + wobble, forgetting=0.94),
            derived("full", "rank1", seed, 0.8, gain_recovery=rank1_recovery + 0.001 * seed),
            derived("full", "relex", seed, 0.88 + wobble + relex_gap, observe=15),
            derived("full", "relex", seed, 0.88 + wobble + relex_gap, observe=10),
            derived("lora", "next", seed, 0.90 + wobble - 0.001, observe=40, updates_used=60),
        ]
    return runs


def verdicts(runs: list) -> dict[str, str]:
    return {claim.key: claim.verdict for claim in evaluate_claims(BASE, runs)}


def test_rules_on_known_intervals() -> None:
    assert equivalence(Estimate(0.0, -0.01, 0.01, 3), 0.02) == "reproduced"
    assert equivalence(Estimate(-0.1, -0.12, -0.08, 3), 0.02) == "not reproduced"
    assert equivalence(Estimate(0.0, -0.05, 0.01, 3), 0.02) == "inconclusive at this power"
    assert at_least(Estimate(0.995, 0.991, 0.999, 3), 0.99) == "reproduced"
    assert at_least(Estimate(0.9, 0.85, 0.95, 3), 0.99) == "not reproduced"
    assert above_zero(Estimate(0.1, -0.1, 0.3, 3)) == "inconclusive at this power"
    assert not_worse(Estimate(-0.01, -0.015, 0.0, 3), 0.02) == "reproduced"
    assert combine(["reproduced", "inconclusive at this power"]) == "inconclusive at this power"
    assert combine(["reproduced", "not reproduced", "inconclusive at this power"]) == "not reproduced"


def test_a_world_where_every_claim_holds_reproduces_all_six() -> None:
    assert verdicts(claims_world()) == {f"C{i}": "reproduced" for i in range(1, 7)}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"rank1_recovery": 0.60}, "C1"),
        ({"relex_gap": -0.10}, "C2"),
        ({"sub_gap": -0.10}, "C6"),
    ],
)
def test_a_refuted_claim_is_not_reproduced_and_the_others_are_untouched(change: dict, key: str) -> None:
    found = verdicts(claims_world(**change))
    assert found[key] == "not reproduced"
    assert all(verdict == "reproduced" for other, verdict in found.items() if other != key)


def test_missing_runs_are_not_measured_and_the_report_says_so() -> None:
    runs = [run for run in claims_world() if run.method in ("full", "lora")]
    claims = evaluate_claims(BASE, runs)
    assert {c.verdict for c in claims} == {"not measured"}
    text = render("claims", claims, [], "make claims")
    assert text.count("## C") == 6 and "the suite has no runs for this claim" in text


def test_prb_claims_without_results_is_one_line_exit_2(tmp_path: Path) -> None:
    outcome = CliRunner().invoke(app, ["claims", "claims", "--results-dir", str(tmp_path)])
    assert outcome.exit_code == 2
    assert (
        outcome.output.strip().count("\n") == 0 and "run `prb run suites/claims.yaml` first" in outcome.output
    )
    assert not any(tmp_path.iterdir())
