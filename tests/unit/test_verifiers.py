"""The built-in verifiers are both the RL reward and the eval metric, so their edge cases matter twice."""

from __future__ import annotations

import pytest

from peft_rlvr_bench.verifiers import choice_match, extract_choice, extract_first_integer, integer_match


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


@pytest.mark.parametrize(
    ("completion", "letter"),
    [
        ("so the answer is \\boxed{B}", "B"),
        ("\\boxed{\\text{(C)}}", "C"),
        ("The answer is (D).", "D"),
        ("Answer: a", "A"),
        ("first \\boxed{A}, then on reflection \\boxed{E}", "E"),
        ("I like Bob.", None),
    ],
)
def test_choice_extraction(completion: str, letter: str | None) -> None:
    assert extract_choice(completion) == letter
    assert choice_match(completion, "C") == float(letter == "C")
