"""Benchmark: lm-eval throughput on the tiny tasks against the batch size (issue 9, benchmark 5).

``greedy_scores`` (what ``evaluate`` and every run's final, learning-curve and extrapolated
evaluations call) on the tiny suite's four tasks (add, add_words, copy, max) with ``N_ITEMS``
items each, greedy, 8 new tokens, at batch sizes 16 to 1024, on the tiny-world base model.
``extra_info["items_per_second"]`` is items over the mean time of a call; the ``overhead`` case
(8 items per task) is the call's fixed cost (task building, dataset loading, lm-eval set-up),
which ``items_per_second_net`` subtracts. A rank-1-substituted or extrapolated model is
evaluated through the same call with other weights of the same shapes, so its throughput is
this one.
"""

from __future__ import annotations

from typing import Any

import pytest
from common import REPO, pick

BATCH_SIZES = pick([16, 64, 256, 1024], [16, 256])
N_ITEMS = pick(500, 32)
ROUNDS = pick(3, 1)
_overhead: dict[str, float] = {}


@pytest.fixture(scope="module")
def world() -> tuple[Any, Any, Any]:
    """The tiny-world base and the tiny suite's eval spec; one small call warms lm-eval up."""
    from peft_rlvr_bench.evaluation import greedy_scores
    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.suite import load_suite

    suite = load_suite(REPO / "suites" / "tiny.yaml").spec
    model, tokenizer = load_base(suite.model)
    greedy_scores(model, tokenizer, suite.eval.model_copy(update={"n_items": 4}))
    return model, tokenizer, suite.eval


def _tasks(spec: Any) -> list[str]:
    return sorted({task for names in spec.roles().values() for task in names})


@pytest.mark.parametrize("batch_size", ["overhead", *BATCH_SIZES])
def test_greedy_items_per_second(benchmark, world: tuple[Any, Any, Any], batch_size: int | str) -> None:
    import torch

    from peft_rlvr_bench.evaluation import greedy_scores

    model, tokenizer, eval_spec = world
    n_items = 8 if batch_size == "overhead" else N_ITEMS
    spec = eval_spec.model_copy(
        update={"n_items": n_items, "batch_size": 256 if batch_size == "overhead" else batch_size}
    )
    benchmark.group = f"greedy evaluation, 4 tiny tasks x {N_ITEMS} items"
    scores = benchmark.pedantic(lambda: greedy_scores(model, tokenizer, spec), rounds=ROUNDS, iterations=1)
    items = sum(score.n for score in scores.values())
    seconds = benchmark.stats.stats.mean
    benchmark.extra_info.update(
        items=items,
        tasks=_tasks(spec),
        batch_size=spec.batch_size,
        items_per_second=items / seconds,
        threads=torch.get_num_threads(),
    )
    if batch_size == "overhead":
        _overhead["seconds"] = seconds
    elif "seconds" in _overhead and seconds > _overhead["seconds"]:
        benchmark.extra_info["items_per_second_net"] = items / (seconds - _overhead["seconds"])
