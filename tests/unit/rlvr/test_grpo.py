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


def test_the_masked_share_counts_zero_importance_weights() -> None:
    import torch

    from peft_rlvr_bench.rlvr.grpo import masked_share

    sequences = torch.tensor([[0.0], [1.2], [0.0], [3.0]])  # sequence_mask: one ratio per completion
    assert masked_share(sequences, torch.ones(4, 5)).tolist() == [1.0, 0.0, 1.0, 0.0]
    tokens = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])  # token_mask: per token
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])  # padding past a completion's end is not counted
    assert masked_share(tokens, mask).tolist() == [0.5, 0.0]
