"""The GRPO loop's pieces: the verifier as TRL reward function."""

from __future__ import annotations

from peft_rlvr_bench.rlvr.grpo import reward_function


def test_reward_function_is_the_verifier_over_the_answer_column() -> None:
    reward = reward_function("int_match")
    assert reward.__name__ == "int_match"
    assert reward(completions=["12", "13", ""], answer=["12", "12", "12"], prompts=["a", "b", "c"]) == [
        1.0,
        0.0,
        0.0,
    ]
