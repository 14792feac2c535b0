"""Verifiers: one function scores a completion both as the RL reward and as the eval metric.

Sharing the function is the point (nanochat's ``reward()`` calls ``evaluate()``): training reward
and test accuracy cannot drift apart when they are the same code.
"""

from __future__ import annotations

import re
from typing import Protocol

from peft_rlvr_bench.registry import register_verifier

_FIRST_INTEGER = re.compile(r"-?\d+")


class Verifier(Protocol):
    def __call__(self, completion: str, answer: str) -> float:
        """1.0 when ``completion`` states ``answer``, else 0.0."""
        ...


def extract_first_integer(completion: str) -> int | None:
    """The first integer the completion states, or None when it states none."""
    match = _FIRST_INTEGER.search(completion)
    return int(match.group()) if match else None


@register_verifier("int_match")
def integer_match(completion: str, answer: str) -> float:
    """Exact match of the first integer in the completion against the integer answer."""
    predicted = extract_first_integer(completion)
    return float(predicted is not None and predicted == int(answer))
