"""The tiny world: deterministic task data, a tokenizer that round-trips, bit-identical builds."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from peft_rlvr_bench.registry import TASKS
from peft_rlvr_bench.tasks.arithmetic import EVAL_POOL_SIZE
from peft_rlvr_bench.verifiers import integer_match
from peft_rlvr_bench.world.build import WorldRecipe, build_world, dropped_carry_answer, sft_rows


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


def test_dropped_carry_answer() -> None:
    assert dropped_carry_answer("8+5=") == 3
    assert dropped_carry_answer("47+38=") == 75
    assert dropped_carry_answer("sum of 41 and 38 is") is None


def test_sft_slips_only_touch_carrying_sums_of_slip_tasks() -> None:
    recipe = WorldRecipe(mixture={"add": 400, "max": 100})
    rows = sft_rows(recipe)
    slipped = 0
    for row in rows:
        if row["prompt"].startswith("max"):
            continue
        a, b = (int(n) for n in row["prompt"].rstrip("=").split("+"))
        if int(row["completion"]) != a + b:
            assert a % 10 + b % 10 >= 10 and int(row["completion"]) == a + b - 10
            slipped += 1
    carrying = sum(1 for r in rows if not r["prompt"].startswith("max") and dropped_carry_answer(r["prompt"]))
    assert 0.4 * carrying < slipped < 0.8 * carrying, "about carry_slip of the carrying sums slip"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_recipe_gives_bit_identical_world(tmp_path: Path) -> None:
    recipe = WorldRecipe(
        mixture={"add": 200, "copy": 200}, sft_steps=8, sft_batch_size=16, num_hidden_layers=1
    )
    build_world(recipe, tmp_path / "a")
    build_world(recipe, tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json"):
        assert _digest(tmp_path / "a" / name) == _digest(tmp_path / "b" / name)
    other = recipe.model_copy(update={"seed": 1})
    build_world(other, tmp_path / "c")
    assert _digest(tmp_path / "a" / "model.safetensors") != _digest(tmp_path / "c" / "model.safetensors")


def test_tokenizer_reloads_identically_and_keeps_digits_apart(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    recipe = WorldRecipe(
        mixture={"add": 100, "add_words": 100}, sft_steps=1, sft_batch_size=4, num_hidden_layers=1
    )
    build_world(recipe, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    text = "sum of 417 and 38 is 455"
    assert tokenizer.decode(tokenizer(text).input_ids) == text
    assert tokenizer.tokenize("417+38=")[:3] == ["4", "1", "7"]
    assert tokenizer.eos_token == "<eos>" and tokenizer.bos_token is None
