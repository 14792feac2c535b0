"""Per-item results from lm-eval's logged samples (``simple_evaluate(log_samples=True)``).

lm-eval logs one sample per eval document and filter: ``doc_id`` (the row of the task's eval
JSONL, so the order of ``eval_data_file``), the ``doc`` itself, the ``target``, the
``filtered_resps`` the scoring hook saw and every value the hook returned (``acc`` for greedy
tasks; ``avg_at_k`` and ``sample_scores`` for sampled ones). This module turns them into the
per-item scores a ``TaskScore`` keeps and the ``ItemSample`` lines of a run's samples sidecar.
Pure functions of that output: the tests feed them lm-eval's real output from a scripted model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from peft_rlvr_bench.reporting.results import ItemSample


def items_digest(items: Iterable[tuple[str, str]]) -> str:
    """sha256 (first 12 hex digits) of ``(prompt, answer)`` pairs in order, as the JSON list
    ``[[prompt, answer], ...]``: the same items give the same digest in any run of any suite."""
    payload = json.dumps([[prompt, answer] for prompt, answer in items], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:12]


def in_item_order(logged: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One task's logged samples by ``doc_id``, checked to be items ``0..n-1`` once each (a task
    with two filters, or a sharded evaluation that lost a shard, would break the pairing)."""
    ordered = sorted(logged, key=lambda sample: int(sample["doc_id"]))
    ids = [int(sample["doc_id"]) for sample in ordered]
    if ids != list(range(len(ordered))):
        raise ValueError(f"lm-eval logged doc ids {ids[:5]}... for {len(ordered)} samples; expected 0..n-1")
    return ordered


@dataclass(frozen=True)
class GreedyItems:
    """A greedy task's per-item scores, the digest of its items and what the model answered."""

    scores: list[float]
    digest: str
    samples: list[ItemSample]


def greedy_items(task: str, logged: Sequence[dict[str, Any]]) -> GreedyItems:
    """The per-item view of a greedy task's logged samples (``prb_task.yaml``: metric ``acc``)."""
    ordered = in_item_order(logged)
    samples = [
        ItemSample(
            task=task,
            index=int(sample["doc_id"]),
            prompt=sample["doc"]["prompt"],
            target=str(sample["target"]),
            response=sample["filtered_resps"][0],
            score=float(sample["acc"]),
        )
        for sample in ordered
    ]
    return GreedyItems(
        scores=[sample.score for sample in samples],
        digest=items_digest((sample["doc"]["prompt"], sample["doc"]["answer"]) for sample in ordered),
        samples=samples,
    )


@dataclass(frozen=True)
class SampledItems:
    """A sampled task's per-item mean scores, and each item's k answers and their scores."""

    means: list[float]
    responses: list[list[str]]
    scores: list[list[float]]


def sampled_items(logged: Sequence[dict[str, Any]]) -> SampledItems:
    """The per-item view of a sampled task's logged samples (``prb_task_sampled.yaml``)."""
    ordered = in_item_order(logged)
    return SampledItems(
        means=[float(sample["avg_at_k"]) for sample in ordered],
        responses=[list(sample["filtered_resps"][0]) for sample in ordered],
        scores=[[float(score) for score in sample["sample_scores"]] for sample in ordered],
    )


class SampleLog:
    """Collects what a model answered across an evaluation's greedy and sampled passes: one
    ``ItemSample`` per task item, its k samples added to the greedy line of the same item."""

    def __init__(self) -> None:
        self._samples: dict[tuple[str, int], ItemSample] = {}

    def add_greedy(self, samples: Iterable[ItemSample]) -> None:
        for sample in samples:
            self._samples[(sample.task, sample.index)] = sample

    def add_sampled(self, task: str, items: SampledItems) -> None:
        for index, (responses, scores) in enumerate(zip(items.responses, items.scores, strict=True)):
            key = (task, index)
            if key not in self._samples:
                raise ValueError(f"{task} item {index} was sampled but has no greedy answer to go with")
            self._samples[key] = self._samples[key].model_copy(
                update={"responses": responses, "scores": scores}
            )

    def samples(self) -> list[ItemSample]:
        """Every item, by task name, then item order."""
        return [self._samples[key] for key in sorted(self._samples)]
