"""The rank-1 model of a run and its control (blocks_only), the checkpoints gain recovery compares."""

from __future__ import annotations

import pytest
import torch

from peft_rlvr_bench.extrapolation.rank1_model import BlocksOnlyModel, Rank1Model
from tests.helpers.paths import REPO

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


def test_blocks_only_keeps_the_tuned_blocks_and_puts_everything_else_back_at_w0() -> None:
    from peft_rlvr_bench.extrapolation import extrapolate_state
    from tests.helpers.tiny_models import tiny_llama

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

    from peft_rlvr_bench.registry import EXTRAPOLATORS
    from peft_rlvr_bench.suite import load_suite

    assert EXTRAPOLATORS.get("blocks_only") is BlocksOnlyModel
    suite = load_suite(REPO / "suites" / "claims.yaml")
    sources = {
        method: sorted(
            (d.source.adapter.label, d.source.seed, d.target) for d in suite.derived if d.method == method
        )
        for method in ("rank1", "blocks_only")
    }
    assert sources["rank1"] and sources["blocks_only"] == sources["rank1"]
