"""Reading answers out of dataset rows: boxed answers, GSM8K's #### line."""

from __future__ import annotations

from peft_rlvr_bench.tasks.rows import gsm8k_answer, last_boxed


def test_answer_extraction() -> None:
    assert last_boxed("so $\\boxed{\\frac{5}{6}}$.") == "\\frac{5}{6}"
    assert last_boxed("\\boxed{1} then \\boxed{\\sqrt{\\frac{a}{b}}}") == "\\sqrt{\\frac{a}{b}}"
    assert last_boxed("no answer") is None
    assert gsm8k_answer("4*4=<<4*4=16>>16 wheels.\n#### 1,016") == "1016"
    assert gsm8k_answer("no marker") is None
