"""An lm-eval model whose answers a test scripts: lm-eval's real task, filter, scoring and
sample-logging code runs around it, without a network or a forward pass."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from lm_eval.api.model import LM


class ScriptedLM(LM):
    """Answers ``generate_until`` requests with ``answer(prompt, nth, sampled)``: ``nth`` counts
    the earlier requests for the same prompt in the call (0..k-1 across a sampled item's
    repeats), ``sampled`` says whether the request asks for sampling (``do_sample``)."""

    def __init__(self, answer: Callable[[str, int, bool], str]) -> None:
        super().__init__()
        self.answer = answer
        self.prompts: list[str] = []

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        seen: Counter[str] = Counter()
        out = []
        for request in requests:
            prompt, generation = request.args
            self.prompts.append(prompt)
            out.append(self.answer(prompt, seen[prompt], bool(generation.get("do_sample", False))))
            seen[prompt] += 1
        return out

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        raise NotImplementedError("the harness's tasks only generate")

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError("the harness's tasks only generate")
