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


class BosTokenizer:
    """A tokenizer that adds its BOS to every text, as DeepSeek-R1 distills' does."""

    bos_token, bos_token_id = "<｜begin▁of▁sentence｜>", 0

    def __init__(self, adds_bos: bool) -> None:
        self.adds_bos = adds_bos

    def __call__(self, text: str) -> dict[str, list[int]]:
        return {"input_ids": ([0] if self.adds_bos else []) + [5] * len(text.split())}


def test_a_written_bos_is_not_doubled_when_trl_tokenizes_the_prompt() -> None:
    from peft_rlvr_bench.rlvr.grpo import without_written_bos
    from peft_rlvr_bench.tasks.data import TEMPLATES

    prompt = TEMPLATES["r1_distill"].render("What is 1 + 1?")
    assert prompt.startswith(BosTokenizer.bos_token)
    (trained,) = without_written_bos([prompt], BosTokenizer(adds_bos=True))
    assert trained == prompt.removeprefix(BosTokenizer.bos_token), "the tokenizer adds the one BOS"
    assert without_written_bos([prompt], BosTokenizer(adds_bos=False)) == [prompt]
    plain = TEMPLATES["qwen_math"].render("What is 1 + 1?")
    assert without_written_bos([plain], BosTokenizer(adds_bos=True)) == [plain]
