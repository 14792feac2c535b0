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
        """1.0 when ``completion`` states ``answer``, else 0.0, also when ``completion`` is not a
        string (a trainer's message list, None): that states no answer, it is not a fault."""
        ...


def extract_first_integer(completion: str) -> int | None:
    """The first integer the completion states, or None when it states none."""
    match = _FIRST_INTEGER.search(completion)
    return int(match.group()) if match else None


@register_verifier("int_match")
def integer_match(completion: str, answer: str) -> float:
    """Exact match of the first integer in the completion against the integer answer."""
    if not isinstance(completion, str):
        return 0.0  # a completion that is not text states no answer
    predicted = extract_first_integer(completion)
    return float(predicted is not None and predicted == int(answer))


_BOXED_CHOICE = re.compile(r"\\boxed\{\s*(?:\\text\{\s*)?\(?([A-Ja-j])\)?(?![A-Za-z])")
_STATED_CHOICE = re.compile(
    r"answer(?: is|:)\s*\(?\$?\s*(?:\\text\{\s*)?([A-J])\)?(?![A-Za-z])", re.IGNORECASE
)


def extract_choice(completion: str) -> str | None:
    """The option letter the completion settles on: its last ``\\boxed{X}`` (also ``\\boxed{(X)}``,
    ``\\boxed{\\text{X}}``), else its last "answer is X" / "Answer: (X)"; None when it states none."""
    for pattern in (_BOXED_CHOICE, _STATED_CHOICE):
        found = pattern.findall(completion)
        if found:
            return found[-1].upper()
    return None


@register_verifier("choice_match")
def choice_match(completion: str, answer: str) -> float:
    """Multiple choice: 1.0 when the completion's chosen letter is ``answer`` (a letter A-J)."""
    if not isinstance(completion, str):
        return 0.0  # a completion that is not text states no answer
    return float(extract_choice(completion) == answer.strip().upper())
