"""The verifier is both the RL reward and the eval metric, so its edge cases matter twice."""

from __future__ import annotations

import pytest

from peft_rlvr_bench.rlvr.grpo import reward_function
from peft_rlvr_bench.verifiers import extract_first_integer, integer_match


@pytest.mark.parametrize(
    ("completion", "answer", "score"),
    [
        ("455", "455", 1.0),
        ("▁455<eos>", "455", 1.0),
        (" 455\n12", "455", 1.0),
        ("45", "455", 0.0),
        ("4550", "455", 0.0),
        ("", "455", 0.0),
        ("no digits", "0", 0.0),
        ("-3", "-3", 1.0),
        ("007", "7", 1.0),
        ("12 455", "455", 0.0),
    ],
)
def test_integer_match(completion: str, answer: str, score: float) -> None:
    assert integer_match(completion, answer) == score


def test_extract_first_integer() -> None:
    assert extract_first_integer("x=12, y=3") == 12
    assert extract_first_integer("none") is None


def test_reward_function_is_the_verifier_over_the_answer_column() -> None:
    reward = reward_function("int_match")
    assert reward.__name__ == "int_match"
    assert reward(completions=["12", "13", ""], answer=["12", "12", "12"], prompts=["a", "b", "c"]) == [
        1.0,
        0.0,
        0.0,
    ]
