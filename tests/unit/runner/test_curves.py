"""What a learning-curve point evaluates: greedy in-domain only, on the first ``curve_items``."""

from __future__ import annotations

from peft_rlvr_bench.runner.curves import curve_eval_spec
from peft_rlvr_bench.suite import EvalSpec, SamplingSpec


def test_a_curve_point_is_greedy_in_domain_on_the_first_curve_items() -> None:
    spec = EvalSpec(
        in_domain=["add"],
        out_of_domain=["add_words"],
        forgetting=["copy"],
        n_items=1000,
        task_items={"add": 800},
        curve_items=300,
        sampling=SamplingSpec(k=8),
    )
    curve = curve_eval_spec(spec)
    assert curve.roles() == {"in_domain": ["add"], "out_of_domain": [], "forgetting": []}
    assert curve.items_for("add") == 300 and curve.sampling is None and not curve.keep_samples


def test_without_curve_items_a_point_uses_the_final_evaluations_items() -> None:
    curve = curve_eval_spec(EvalSpec(in_domain=["add"], n_items=500, task_items={"add": 400}))
    assert curve.items_for("add") == 400
