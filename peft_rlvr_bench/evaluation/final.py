"""A checkpoint's final evaluation: what the base, a trained run and a derived run all record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.evaluation import evaluate_in_depth, new_sample_log
from peft_rlvr_bench.evaluation.shipped import shipped_scores
from peft_rlvr_bench.suite import EvalSpec


def final_evaluation(
    model: Any,
    tokenizer: Any,
    spec: EvalSpec,
    device: str,
    context: RunContext,
    timings: dict[str, float],
    reference: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """The result fields of ``model``'s evaluation under ``spec``: ``metrics`` and, given a loader
    of the base as ``reference``, ``kl_to_base`` (``evaluate_in_depth``); ``lm_eval``, the shipped
    lm-eval tasks' scores; ``samples``, what it answered (unless the suite keeps none). Seconds
    per phase go into ``timings``."""
    samples = new_sample_log(spec)
    metrics, kl = evaluate_in_depth(
        model,
        tokenizer,
        spec,
        device=device,
        reference=reference,
        timings=timings,
        samples=samples,
        context=context,
    )
    return {
        "metrics": metrics,
        "kl_to_base": kl,
        "lm_eval": shipped_scores(model, tokenizer, spec, device, context, timings),
        "samples": None if samples is None else samples.samples(),
    }
