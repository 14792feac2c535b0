"""The lm-eval scoring hooks of sampled evaluation."""

from __future__ import annotations

import pytest

from peft_rlvr_bench.evaluation.estimators import avg_at_k
from peft_rlvr_bench.evaluation.lm_eval_tasks.scoring import mean_over_samples, process_results_sampled


def test_avg_at_k_and_the_sampled_scoring_hook() -> None:
    assert avg_at_k([1.0, 0.0, 1.0, 1.0]) == 0.75
    with pytest.raises(ValueError):
        avg_at_k([])
    doc = {"answer": "85", "verifier": "int_match"}
    assert process_results_sampled(doc, [["85", "84", " 85 ", "x"]]) == {
        "avg_at_k": 0.5,
        "pass_at_k": 1.0,
        "sample_scores": [1.0, 0.0, 1.0, 0.0],
    }
    assert process_results_sampled(doc, [["1", "2"]]) == {
        "avg_at_k": 0.0,
        "pass_at_k": 0.0,
        "sample_scores": [0.0, 0.0],
    }
    assert process_results_sampled(doc, [["85"]]) == {
        "avg_at_k": 1.0,
        "pass_at_k": 1.0,
        "sample_scores": [1.0],
    }
    assert mean_over_samples([[1.0, 0.0], [1.0, 1.0, 1.0, 0.0]]) == 4 / 6, "every sample weighs the same"
