"""The claims report: every claim judged on hand-made results with known answers, and the page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from peft_rlvr_bench.cli import app
from peft_rlvr_bench.reporting.claims import evaluate_claims, render
from peft_rlvr_bench.reporting.results import CurvePoint, RunResult, StepRecord
from tests.helpers.citations import unshipped_citations
from tests.helpers.claims import BASE, result, role

SEEDS = (0, 1, 2)
JITTER = (0.0, 0.002, -0.002)
"""A per-seed wobble shared by every arm, so paired differences are clean but scores are not."""


def derived(source: str, method: str, seed: int, in_domain: float, observe: int = 100, **info) -> RunResult:
    label = f"{source}+{method}@{observe}"
    extrapolation = {"source_method": source, "method": method, "observe": observe, "target": 100, **info}
    return result(label, seed, in_domain, extrapolation=extrapolation)


def geometry(
    unchanged: float = 0.5, overlap: float = 0.4, baseline: float = 0.5, shift: float = 0.002
) -> dict:
    means = {"princ_overlap": overlap, "princ_baseline": baseline, "spectral_shift": shift}
    return {"headline": {"update_sparsity": unchanged, "means": means}, "by_depth": {}}


def rewards(value: float) -> list[StepRecord]:
    return [StepRecord(step=i, reward_mean=value) for i in range(1, 21)]


def curve(final: float, at_60: float) -> list[CurvePoint]:
    points = {0: 0.5, 30: (0.5 + at_60) / 2, 60: at_60, 100: final}
    return [CurvePoint(update=u, in_domain=v) for u, v in points.items()]


@dataclass(frozen=True)
class World:
    """Effects of a hand-made claims suite in which, by default, every claim holds clearly."""

    rank1: float = 0.995
    blocks: float = 0.999
    relex15: float = 0.002
    relex10: float = -0.002
    rl_unchanged: float = 0.8
    principal_excess: float = -0.1
    geora: float = 0.92
    pissa: float = 0.89
    lora: float = 0.88
    geora_shift: float = 0.001
    pissa_shift: float = 0.004
    geora_forgetting: float = 0.94
    next_gap: float = 0.001
    lora_at_60: float = 0.80
    lora_curve_every: int = 30
    sub_gap: float = -0.001
    reward_drop: float = 0.1
    drop: tuple[str, ...] = ()


def runs_of(world: World = World()) -> list[RunResult]:
    w = world
    runs = []
    for seed, j in zip(SEEDS, JITTER, strict=True):
        full = 0.88 + j
        lora = w.lora + j
        points = curve(lora, w.lora_at_60 + j)
        if w.lora_curve_every != 30:
            points = [p for p in points if p.update % w.lora_curve_every == 0]
        runs += [
            result(
                "full",
                seed,
                full,
                train_curve=rewards(0.8),
                geometry=geometry(w.rl_unchanged, w.principal_excess + 0.5),
            ),
            result("full-sft", seed, 0.9, geometry=geometry(0.1 + j)),
            result(
                "full-rank1sub", seed, full + w.sub_gap + j / 4, train_curve=rewards(0.8 - w.reward_drop + j)
            ),
            result(
                "lora", seed, lora, forgetting=0.90 + j, geometry=geometry(shift=0.007), learning_curve=points
            ),
            result(
                "pissa",
                seed,
                w.pissa + j,
                forgetting=0.91 + j,
                geometry=geometry(shift=w.pissa_shift + j / 100),
            ),
            result(
                "geora",
                seed,
                w.geora + j,
                forgetting=w.geora_forgetting + j,
                geometry=geometry(shift=w.geora_shift),
            ),
            derived("full", "rank1", seed, 0.8, gain_recovery=w.rank1 + j / 4),
            derived("full", "blocks_only", seed, 0.8, gain_recovery=w.blocks + j / 4),
            derived("full", "relex", seed, full + w.relex15 + j / 4, observe=15),
            derived("full", "relex", seed, full + w.relex10 + j / 4, observe=10),
            derived("lora", "next", seed, lora + w.next_gap + j / 4, observe=40, updates_used=60),
        ]
    return [run for run in runs if run.method not in w.drop]


def claims_of(world: World = World(), base: RunResult = BASE) -> dict:
    return {claim.key: claim for claim in evaluate_claims(base, runs_of(world))}


def statuses(world: World = World()) -> dict[str, str]:
    return {key: claim.verdict.status for key, claim in claims_of(world).items()}


KEYS = ("C1", "C2", "C3", "C4a", "C4b", "C4c", "C4d", "C5", "C6", "C7")


# Every claim on hand-made results --------------------------------------------------------------


def test_a_world_where_every_claim_holds_reproduces_them_all_in_the_tiny_world() -> None:
    found = claims_of()
    assert set(found) == set(KEYS)
    assert {key: claim.verdict.status for key, claim in found.items()} == dict.fromkeys(KEYS, "reproduced")
    assert all(claim.verdict.text() == "reproduced in the tiny world" for claim in found.values())


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"rank1": 0.85, "blocks": 0.86}, "C1"),
        ({"relex10": -0.10}, "C2"),
        ({"rl_unchanged": 0.05}, "C3"),
        ({"geora": 0.85}, "C4a"),
        ({"geora_shift": 0.008}, "C4c"),
        ({"next_gap": -0.10}, "C5"),
        ({"sub_gap": -0.10}, "C6"),
        ({"pissa": 0.95}, "C7"),
    ],
)
def test_a_refuted_claim_is_contradicted(change: dict, key: str) -> None:
    assert statuses(World(**change))[key] == "contradicted"


@pytest.mark.parametrize(
    ("drop", "keys"),
    [
        (("full+blocks_only@100",), {"C1"}),
        (("full+relex-10x@10", "full+relex@10"), {"C2"}),
        (("full-sft",), {"C3"}),
    ],
)
def test_a_half_measured_claim_is_incomplete(drop: tuple[str, ...], keys: set[str]) -> None:
    found = claims_of(World(drop=drop))
    assert {key for key, claim in found.items() if claim.verdict.status == "incomplete"} == keys
    for key in keys:  # the parts that were measured are still shown
        assert any(o.status != "incomplete" for o in found[key].outcomes)
    text = render("claims", list(found.values()), [], "make claims")
    assert "incomplete in the tiny world (not measured:" in text


def test_c1_control_separates_the_truncation_from_the_reset() -> None:
    # The rank-1 model keeps 90%, but so does the control: the reset costs the 10%, not the truncation.
    reset = claims_of(World(rank1=0.90, blocks=0.902))["C1"]
    kept, truncation = reset.outcomes
    assert kept.status == "contradicted" and truncation.status == "reproduced"
    assert truncation.part.comparison.difference == pytest.approx(0.90 - 0.902)
    assert "`blocks_only` of full fine-tuning keeps 90.2%" in " ".join(reset.spec.context)
    truncated = claims_of(World(rank1=0.90, blocks=0.999))["C1"]
    assert truncated.outcomes[1].status == "contradicted"


def test_geora_spectral_shift_is_read_from_geometry_next_to_the_papers_numbers() -> None:
    claim = claims_of(World(geora_shift=0.0031, pissa_shift=0.0017))["C4c"]
    assert claim.verdict.status == "contradicted"
    assert claim.outcomes[0].part.comparison.difference == pytest.approx(0.0031 - 0.0017)
    text = render("claims", [claim], [], "make claims")
    assert "GeoRA 0.0031 [" in text and "PiSSA 0.0017 [" in text and "GeoRA 0.092, PiSSA 0.395" in text


def test_geora_forgetting_claim_uses_the_forgetting_role_against_both_baselines() -> None:
    claim = claims_of(World(geora_forgetting=0.90))["C4d"]  # as LoRA (0.90), below PiSSA (0.91)
    lora, pissa = claim.outcomes
    assert lora.part.comparison.difference == pytest.approx(0.0) and pissa.status == "contradicted"
    assert claim.verdict.status == "contradicted"


def test_next_is_compared_with_the_real_run_at_the_same_real_updates() -> None:
    saturated = claims_of(World(lora_at_60=0.88))["C5"]  # the real run is done by update 60
    at_target, extension = saturated.outcomes
    assert at_target.status == "reproduced"
    assert extension.part.comparison.difference == pytest.approx(World().next_gap, abs=1e-3)
    assert extension.status != "reproduced" and saturated.verdict.status != "reproduced"
    assert "same 60 real updates" in extension.part.label
    rising = claims_of(World(lora_at_60=0.80))["C5"]
    assert rising.outcomes[1].part.comparison.difference == pytest.approx(0.08, abs=1e-3)
    assert rising.verdict.status == "reproduced"


def test_next_without_the_curve_point_at_its_real_updates_is_incomplete() -> None:
    claim = claims_of(World(lora_curve_every=50))["C5"]  # curve at 0, 50, 100: no update 60
    assert claim.verdict.status == "incomplete" and claim.outcomes[1].status == "incomplete"
    assert claim.outcomes[0].status == "reproduced"  # the part at the target alone would have passed


def test_verdicts_name_the_model_they_were_measured_on() -> None:
    base = BASE.model_copy(update={"spec": {"model": {"name": "Qwen/Qwen2.5-Math-1.5B"}}})
    found = claims_of(base=base)
    assert found["C3"].verdict.text() == "reproduced on Qwen/Qwen2.5-Math-1.5B"


def test_item_scores_make_accuracy_comparisons_seeds_x_items() -> None:
    rng = np.random.default_rng(0)
    runs = runs_of()
    for i, run in enumerate(runs):
        if run.method in ("geora", "pissa"):
            items = (rng.random(500) < 0.9).astype(float).tolist()
            score = float(np.mean(items))
            metrics = {**run.metrics, "in_domain": role(score, items)}
            runs[i] = run.model_copy(update={"metrics": metrics})
    claim = next(c for c in evaluate_claims(BASE, runs) if c.key == "C4a")
    assert claim.outcomes[0].part.comparison.kind == "seeds x items"


def test_the_page_cites_papers_and_never_the_internal_notes() -> None:
    claims = list(claims_of().values())
    assert all("arXiv" in claim.spec.source for claim in claims)
    text = render("claims", claims, [], "make claims")
    assert unshipped_citations(text) == []
    assert "Holm family" in text and "90%" in text and text.count("| C") == len(KEYS)


def test_prb_claims_without_results_is_one_line_exit_2(tmp_path: Path) -> None:
    outcome = CliRunner().invoke(app, ["claims", "claims", "--results-dir", str(tmp_path)])
    assert outcome.exit_code == 2
    assert (
        outcome.output.strip().count("\n") == 0 and "run `prb run suites/claims.yaml` first" in outcome.output
    )
    assert not any(tmp_path.iterdir())


def test_prb_claims_refuses_a_suite_without_claim_runs(tmp_path: Path) -> None:
    """lora and pissa measure C7 alone: a page of nine "incomplete" verdicts is refused."""
    from tests.helpers import hand_results

    hand_results.write_suite(tmp_path, hand_results.base(), hand_results.runs())
    outcome = CliRunner().invoke(app, ["claims", hand_results.SUITE, "--results-dir", str(tmp_path)])
    assert outcome.exit_code == 2
    assert outcome.output.strip().count("\n") == 0 and "not a claims suite" in outcome.output
    assert not (tmp_path / hand_results.SUITE / "CLAIMS.md").exists()


def test_relex_windows_are_shares_of_the_full_runs_budget() -> None:
    """At a 200-update budget C2 reads the runs observing 30 and 20 updates, not 15 and 10."""
    runs = []
    for run in runs_of():
        spec = {**run.spec, "budget": {"max_steps": 200}}
        info = dict(run.extrapolation or {})
        if info.get("method") == "relex":
            info["observe"] = 2 * info["observe"]
        runs.append(run.model_copy(update={"spec": spec, "extrapolation": info or None}))
    (c2,) = [claim for claim in evaluate_claims(BASE, runs) if claim.key == "C2"]
    assert c2.verdict.status == statuses()["C2"] != "incomplete"
    assert "first 30 updates, predicting 200" in c2.outcomes[0].part.label


def test_next_is_compared_with_the_curve_on_the_curves_own_items() -> None:
    """With curve points on the first 2 of 4 items, C5's second part reads NExt's accuracy on
    those 2 items, not its whole score."""
    from peft_rlvr_bench.reporting.claims.reading import on_source_curve_items

    lora = result("lora", 0, 0.5, learning_curve=[CurvePoint(update=60, in_domain=0.5, n_items=2)])
    nxt = result("lora+next", 0, 0.5).model_copy(
        update={"metrics": {"in_domain": role(0.5, [1.0, 1.0, 0.0, 0.0])}}
    )
    runs = {"lora": {0: lora}, "lora+next": {0: nxt}}
    assert on_source_curve_items(runs, nxt, "lora") == 1.0
    assert on_source_curve_items(runs, nxt.model_copy(update={"seed": 1}), "lora") is None
