"""KL drift from the base and the answer NLL, against hand computations."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from peft_rlvr_bench.evaluation.drift import answer_nll, encode_pair, kl_drift, token_kl, token_nll

# --- KL and NLL as tensor functions -----------------------------------------------------------


def test_token_kl_against_a_hand_computation() -> None:
    # p = softmax([0, ln 3]) = (1/4, 3/4), q = (1/2, 1/2):
    # KL(p || q) = 1/4 ln(1/2) + 3/4 ln(3/2) = 0.130812...
    p = torch.tensor([[[0.0, math.log(3.0)], [1.0, 2.0]]])
    q = torch.tensor([[[5.0, 5.0], [1.0, 2.0]]])
    kl = token_kl(p, q, torch.tensor([[True, True]]))
    assert kl[0, 0].item() == pytest.approx(0.25 * math.log(0.5) + 0.75 * math.log(1.5), rel=1e-6)
    assert kl[0, 1].item() == 0.0, "identical distributions: exactly zero"
    masked = token_kl(p, q, torch.tensor([[False, True]]))
    assert masked.tolist() == [[0.0, 0.0]]
    assert token_kl(q, p, torch.tensor([[True, True]]))[0, 0].item() == pytest.approx(
        0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75), rel=1e-6
    ), "KL is not symmetric: the first argument is the one expected under"


def test_token_nll_against_a_hand_computation() -> None:
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0]]])
    targets = torch.tensor([[1, 0]])
    nll = token_nll(logits, targets, torch.tensor([[True, True]]))
    assert nll[0].tolist() == pytest.approx([-math.log(0.75), math.log(2.0)], rel=1e-6)
    assert token_nll(logits, targets, torch.tensor([[True, False]]))[0, 1].item() == 0.0


def items(task: str, n: int) -> list[Any]:
    from peft_rlvr_bench.registry import TASKS

    return TASKS.get(task).items("eval", n, seed=0)


def test_kl_of_a_model_against_itself_is_zero_and_grows_with_a_perturbation(world: Any) -> None:
    from peft_rlvr_bench.models import load_base

    spec, model, tokenizer = world
    prompts = [item.prompt for item in items("add", 12)]
    twin = load_base(spec.model)[0]
    same = kl_drift(model, twin, tokenizer, prompts, max_new_tokens=6, batch_size=5)
    assert same.token_mean == 0.0 and same.sequence_mean == 0.0
    assert same.n_items == 12 and same.n_tokens >= 12

    with torch.no_grad():
        twin.get_parameter("model.layers.0.mlp.down_proj.weight").add_(0.05)
    drifted = kl_drift(twin, model, tokenizer, prompts, max_new_tokens=6, batch_size=5)
    assert drifted.token_mean > 1e-4
    assert drifted.sequence_mean == pytest.approx(drifted.token_mean * drifted.n_tokens / drifted.n_items)


def test_answer_nll_is_the_manual_cross_entropy_in_any_batch(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft_rlvr_bench.evaluation import drift

    _, model, tokenizer = world
    pairs = [(item.prompt, item.answer) for item in items("copy", 7)]
    total, count = 0.0, 0
    for prompt, answer in pairs:
        context, continuation = encode_pair(tokenizer, prompt, answer)
        ids = torch.tensor([context + continuation])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(context) - 1 : -1]
        total += torch.nn.functional.cross_entropy(logits, torch.tensor(continuation), reduction="sum").item()
        count += len(continuation)
    for batch_size in (1, 3, 64):  # left padding with explicit positions: the same figure
        nll = answer_nll(model, tokenizer, pairs, batch_size=batch_size)
        assert (nll.n_items, nll.n_tokens) == (7, count)
        assert nll.mean == pytest.approx(total / count, rel=1e-4, abs=1e-7)
    monkeypatch.setattr(drift, "LOGITS_BUDGET", 1)  # a long-vocabulary model: one row per batch
    assert answer_nll(model, tokenizer, pairs).mean == pytest.approx(nll.mean, rel=1e-5)
    monkeypatch.undo()
    wrong = answer_nll(model, tokenizer, [(p, str(int(a) + 1)) for p, a in pairs])
    assert wrong.mean > nll.mean + 1.0, "a wrong answer is much less likely than the right one"


def test_kl_completions_end_at_the_templates_end_token() -> None:
    """A base model writes on past ``<|im_end|>`` (not its EOS); the KL is measured over the answer,
    where training and evaluation stop, so generation ends at the first stop id."""
    from peft_rlvr_bench.evaluation.drift import greedy_completions

    asked: dict[str, object] = {}

    class Writer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def generate(self, input_ids: torch.Tensor, **kwargs: object) -> torch.Tensor:
            asked.update(kwargs)
            tail = torch.tensor([[5, 7, 9, 6, 2, 4]] * input_ids.shape[0])  # 6 = <|im_end|>, 2 = EOS
            return torch.cat([input_ids, tail], dim=1)

    class Tokenizer:
        pad_token_id, eos_token_id = 0, 2

        def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
            return {"input_ids": [3, 3]}

    (pair,) = greedy_completions(Writer(), Tokenizer(), ["q"], 6, 4, stop_ids=[6])
    assert pair == ([3, 3], [5, 7, 9, 6]) and asked["eos_token_id"] == [2, 6]
    (plain,) = greedy_completions(Writer(), Tokenizer(), ["q"], 6, 4)
    assert plain[1] == [5, 7, 9, 6, 2], "without stop ids, the EOS ends it"
