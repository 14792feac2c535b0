"""lm-eval's scoring hooks for the harness's tasks: the same verifier that is the RL reward,
guarded the same way (a raising or hanging verifier scores 0 and is counted).

Whatever a hook returns for an item is also in lm-eval's logged sample of that item
(``log_samples``), which is where the per-item scores of a result come from.
"""

from __future__ import annotations

from typing import Any

from peft_rlvr_bench.evaluation.estimators import avg_at_k, n_correct, pass_at_k
from peft_rlvr_bench.verifier_faults import guarded_verifier


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    return {"acc": guarded_verifier(doc["verifier"])(results[0], doc["answer"])}


def process_results_sampled(doc: dict[str, Any], results: list[list[str]]) -> dict[str, Any]:
    """One item's k samples (the ``take_first_k`` filter keeps them all) -> avg@k and pass@k, and
    the k scores themselves (``sample_scores``), so the logged sample says which samples passed."""
    verifier = guarded_verifier(doc["verifier"])
    scores = [verifier(sample, doc["answer"]) for sample in results[0]]
    k = len(scores)
    return {
        "avg_at_k": avg_at_k(scores),
        "pass_at_k": pass_at_k(k, n_correct(scores), k),
        "sample_scores": scores,
    }


def mean_over_samples(per_item: list[list[float]]) -> float:
    """``sample_scores``' aggregation: the mean score of every sample of every item (avg@k when
    every item has k samples)."""
    flat = [score for scores in per_item for score in scores]
    return sum(flat) / len(flat) if flat else float("nan")
