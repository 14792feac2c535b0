"""lm-eval's scoring hook for the harness's tasks: the same verifier that is the RL reward."""

from __future__ import annotations

from typing import Any

from peft_rlvr_bench.registry import VERIFIERS


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    return {"acc": VERIFIERS.get(doc["verifier"])(results[0], doc["answer"])}
