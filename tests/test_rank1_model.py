"""The rank-1 model of a run (gain recovery) and the figures every derived run gets."""

from __future__ import annotations

import pytest
import torch

from peft_rlvr_bench.extrapolation.rank1_model import BlocksOnlyModel, Rank1Model
from peft_rlvr_bench.reporting.results import CurvePoint, RoleScore, RunResult, TaskScore
from peft_rlvr_bench.reporting.steps_saved import with_steps_saved

PARAMS = Rank1Model.Params()


def test_the_rank1_model_of_a_planted_rank1_run_is_the_tuned_run() -> None:
    generator = torch.Generator().manual_seed(0)
    w0 = torch.randn(8, 6, generator=generator, dtype=torch.float64)
    planted = 0.2 * torch.outer(
        torch.randn(8, generator=generator, dtype=torch.float64),
        torch.randn(6, generator=generator, dtype=torch.float64),
    )
    tuned = w0 + planted
    rebuilt = Rank1Model().predict(
        "model.layers.0.mlp.up_proj.weight", w0, [0, 50, 100], [w0, w0 + planted / 2, tuned], 100, PARAMS
    )
    torch.testing.assert_close(rebuilt, tuned)


def test_a_full_rank_update_keeps_its_norm_but_becomes_rank1_and_the_rest_stays_at_w0() -> None:
    generator = torch.Generator().manual_seed(1)
    w0 = torch.randn(8, 6, generator=generator)
    tuned = w0 + 0.1 * torch.randn(8, 6, generator=generator)
    rebuilt = Rank1Model().predict(
        "model.layers.0.self_attn.q_proj.weight", w0, [0, 10], [w0, tuned], 10, PARAMS
    )
    delta = (rebuilt - w0).double()
    assert torch.linalg.matrix_rank(delta, rtol=1e-6) == 1
    torch.testing.assert_close(delta.norm(), (tuned - w0).double().norm(), rtol=1e-5, atol=0)
    for name, shape in (("model.embed_tokens.weight", (8, 6)), ("model.norm.weight", (6,))):
        base = torch.randn(*shape, generator=generator)
        other = base + 1.0
        assert torch.equal(Rank1Model().predict(name, base, [0, 10], [base, other], 10, PARAMS), base)


def test_rank1_needs_a_recorded_target() -> None:
    with pytest.raises(ValueError, match="not among the recorded updates"):
        Rank1Model().validate([0, 5, 10], 7, PARAMS)


def _result(method: str, accuracy: float, extrapolation: dict | None = None, curve=()) -> RunResult:
    score = RoleScore.from_tasks({"add": TaskScore(accuracy=accuracy, n=500)})
    return RunResult(
        suite="s",
        run_id=method,
        method=method,
        seed=0,
        status="ok",
        spec={},
        metrics={"in_domain": score},
        extrapolation=extrapolation,
        learning_curve=[CurvePoint(update=u, in_domain=a) for u, a in curve],
    )


def test_derived_runs_report_the_share_of_the_gain_they_keep() -> None:
    base = _result("base", 0.50)
    source = _result("full", 0.90, curve=[(0, 0.5), (50, 0.8), (100, 0.9)])
    rank1 = _result("full+rank1", 0.80, {"target": 100, "updates_used": 100})
    info = with_steps_saved(rank1, source, base).extrapolation
    assert info["gain_recovery"] == pytest.approx(0.75)  # (0.80 - 0.50) / (0.90 - 0.50)
    assert info["real_at_target"] == 0.9 and info["updates_to_match"] == 50
    flat = _result("flat", 0.50, curve=[(0, 0.5), (100, 0.5)])
    assert with_steps_saved(rank1, flat, base).extrapolation["gain_recovery"] is None


def test_blocks_only_keeps_the_tuned_blocks_and_puts_everything_else_back_at_w0() -> None:
    from peft_rlvr_bench.extrapolation import extrapolate_state
    from tests.tiny_models import tiny_llama

    w0 = tiny_llama(0).state_dict()
    generator = torch.Generator().manual_seed(3)
    tuned = {name: t + 0.01 * torch.randn(t.shape, generator=generator) for name, t in w0.items()}
    halfway = {name: (w0[name] + tuned[name]) / 2 for name in w0}
    predicted = dict(
        extrapolate_state(
            BlocksOnlyModel(),
            BlocksOnlyModel.Params(),
            list(w0),
            w0.__getitem__,
            lambda name: [w0[name], halfway[name], tuned[name]],
            [0, 50, 100],
            100,
        )
    )
    blocks = [name for name in w0 if "_proj" in name]
    others = [name for name in w0 if name not in blocks]
    assert len(blocks) == 14
    assert {"model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"} <= set(others)
    for name in blocks:
        assert torch.equal(predicted[name], tuned[name]) and not torch.equal(tuned[name], w0[name]), name
    for name in others:
        assert torch.equal(predicted[name], w0[name]) and not torch.equal(tuned[name], w0[name]), name
    with pytest.raises(ValueError, match="blocks_only rebuilds a recorded checkpoint"):
        BlocksOnlyModel().validate([0, 50, 100], 70, BlocksOnlyModel.Params())


def test_blocks_only_is_registered_and_runs_next_to_rank1_in_the_claims_suite() -> None:
    from pathlib import Path

    from peft_rlvr_bench.registry import EXTRAPOLATORS
    from peft_rlvr_bench.suite import load_suite

    assert EXTRAPOLATORS.get("blocks_only") is BlocksOnlyModel
    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / "claims.yaml")
    sources = {
        method: sorted(
            (d.source.adapter.label, d.source.seed, d.target) for d in suite.derived if d.method == method
        )
        for method in ("rank1", "blocks_only")
    }
    assert sources["rank1"] and sources["blocks_only"] == sources["rank1"]


def test_blocks_only_runs_get_their_gain_recovery_like_rank1() -> None:
    base = _result("base", 0.50)
    source = _result("full", 0.90, curve=[(0, 0.5), (100, 0.9)])
    control = _result("full+blocks_only", 0.86, {"method": "blocks_only", "target": 100, "updates_used": 100})
    assert with_steps_saved(control, source, base).extrapolation["gain_recovery"] == pytest.approx(0.9)
