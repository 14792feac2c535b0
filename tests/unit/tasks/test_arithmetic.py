"""The tiny world's tasks: deterministic items, true answers, train never repeats eval."""

from __future__ import annotations

import pytest

from peft_rlvr_bench.registry import TASKS
from peft_rlvr_bench.tasks.arithmetic import EVAL_POOL_SIZE
from peft_rlvr_bench.verifiers import integer_match


@pytest.mark.parametrize("name", ["add", "add_words", "copy", "max"])
def test_task_items_are_deterministic_correct_and_train_never_repeats_eval(name: str) -> None:
    task = TASKS.get(name)
    assert task.items("train", 50, seed=3) == task.items("train", 50, seed=3)
    assert task.items("train", 50, seed=3) != task.items("train", 50, seed=4)
    eval_items = task.items("eval", EVAL_POOL_SIZE, seed=0)
    assert len({item.prompt for item in eval_items}) == EVAL_POOL_SIZE, "eval problems are distinct"
    assert task.items("eval", 10, seed=7) == eval_items[:10], "eval items do not depend on the seed"
    eval_prompts = {item.prompt for item in eval_items}
    assert not eval_prompts & {item.prompt for item in task.items("train", 3000, seed=0)}
    for item in eval_items[:200]:
        assert integer_match(item.answer, item.answer) == 1.0


def test_addition_answers_are_true_sums() -> None:
    for item in TASKS.get("add").items("eval", 300, seed=0):
        a, b = item.prompt.rstrip("=").split("+")
        assert int(item.answer) == int(a) + int(b)
