"""Dataset tasks on local fixtures with the real datasets' column layouts (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.registry import TASKS
from peft_rlvr_bench.tasks import Task
from peft_rlvr_bench.tasks.data import DataSpec
from peft_rlvr_bench.tasks.rows import last_boxed
from tests.helpers.datasets import FIXTURES, SOURCES


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines()]


def fixture_task(name: str, **data: Any) -> Task:
    """The registered task reading under a suite's ``data`` settings (default: the fixtures)."""
    return TASKS.get(name).with_data(DataSpec(**{"sources": SOURCES, **data}))


def test_math_train_keeps_levels_3_to_5_with_boxed_answers_and_the_qwen_math_prompt() -> None:
    task = fixture_task("math_train")
    items = task.items("train", 8, seed=0)
    kept = [r for r in rows("math_train.jsonl") if r["level"] in {"Level 3", "Level 4", "Level 5"}]
    assert {item.answer for item in items} == {last_boxed(r["solution"]) for r in kept}
    assert all(item.prompt.startswith("<|im_start|>system\nPlease reason step by step") for item in items)
    assert all(item.prompt.endswith("<|im_end|>\n<|im_start|>assistant\n") for item in items)
    assert task.verifier == "math_verify" and task.stop == ("<|im_end|>", "<|endoftext|>")


def test_train_items_are_seeded_and_cycle_in_reshuffled_epochs() -> None:
    task = fixture_task("math_train")
    first, again, other = (task.items("train", 20, seed=s) for s in (0, 0, 1))
    assert first == again and first != other
    assert sorted(i.answer for i in first[:8]) == sorted(i.answer for i in first[8:16]), (
        "each epoch covers all 8"
    )


def test_eval_items_are_a_stable_sample_of_the_eval_split() -> None:
    task = fixture_task("math500")
    assert task.max_eval_items == 10, "with a local source, the real pool size"
    five = task.items("eval", 5, seed=0)
    assert five == task.items("eval", 5, seed=3) == task.items("eval", 10, seed=0)[:5]
    assert {item.answer for item in task.items("eval", 10, seed=0)} == {
        r["answer"] for r in rows("math500.jsonl")
    }
    with pytest.raises(ValueError, match="has 10 eval items; asked for 11"):
        task.items("eval", 11, seed=0)


def test_gsm8k_reads_two_splits_and_drops_train_problems_that_are_eval_problems() -> None:
    task = fixture_task("gsm8k")
    train = task.items("train", 5, seed=0)
    eval_items = task.items("eval", 5, seed=0)
    assert {i.answer for i in eval_items} == {"15", "18", "6", "8"}
    assert all("Tom has 3 apples" not in i.prompt for i in train), (
        "the problem in both splits stays eval-only"
    )
    assert "1000" in {i.answer for i in train}, "thousands separators are removed"


def test_aime_and_amc_answers() -> None:
    assert {i.answer for i in fixture_task("aime24").items("eval", 6, 0)} == {
        r["answer"] for r in rows("aime24.jsonl")
    }
    amc = fixture_task("amc23").items("eval", 6, 0)
    assert {i.answer for i in amc} == {"8", "7", "12", "15", "13", "100"}, "7.0 -> 7"
    assert all("question" not in i.prompt for i in amc) and "median" in " ".join(i.prompt for i in amc)


def test_multiple_choice_items_list_options_and_answer_with_the_right_letter() -> None:
    for item, row in zip(
        sorted(fixture_task("mmlu").items("eval", 6, 0), key=lambda i: i.prompt),
        sorted(rows("mmlu.jsonl"), key=lambda r: r["question"]),
        strict=False,
    ):
        assert row["question"] in item.prompt
        assert f"{item.answer}) {row['choices'][row['answer']]}" in item.prompt
    for item in fixture_task("mmlu_pro").items("eval", 6, 0):
        row = next(r for r in rows("mmlu_pro.jsonl") if r["question"] in item.prompt)
        assert (
            item.answer == row["answer"]
            and f"{item.answer}) {row['options'][row['answer_index']]}" in item.prompt
        )
    gpqa = fixture_task("gpqa_diamond").items("eval", 6, 0)
    letters = set()
    for item in gpqa:
        row = next(r for r in rows("gpqa_diamond.jsonl") if r["Question"] in item.prompt)
        assert f"{item.answer}) {row['Correct Answer']}\n" in item.prompt
        assert all(row[f"Incorrect Answer {k}"] in item.prompt for k in (1, 2, 3))
        letters.add(item.answer)
    assert len(letters) > 1, "the correct option is not always in the same place"
    assert gpqa == fixture_task("gpqa_diamond").items("eval", 6, 0), "the option order is fixed per question"


def test_parquet_files_and_save_to_disk_directories_load(tmp_path: Path) -> None:
    import datasets

    table = datasets.Dataset.from_list(rows("math500.jsonl"))
    table.to_parquet(tmp_path / "math500.parquet")
    datasets.DatasetDict({"test": table}).save_to_disk(tmp_path / "saved")
    for path in (tmp_path / "math500.parquet", tmp_path / "saved"):
        task = fixture_task("math500", sources={"math500": {"path": str(path)}})
        assert len(task.items("eval", 10, 0)) == 10


def test_splits_a_task_lacks_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="no train split \\(it is eval-only\\)"):
        TASKS.get("math500").items("train", 1, 0)
    one_file = fixture_task("gsm8k", sources={"gsm8k": {"path": str(FIXTURES / "gsm8k_test.jsonl")}})
    with pytest.raises(ValueError, match="one file, but the task reads two splits"):
        one_file.items("eval", 1, 0)


def test_templates_change_the_prompt_and_the_stop_strings() -> None:
    r1 = fixture_task("math500", template="r1_distill")
    item = r1.items("eval", 1, 0)[0]
    assert item.prompt.startswith("<｜begin▁of▁sentence｜><｜User｜>") and item.prompt.endswith("<think>\n")
    assert r1.stop == ("<｜end▁of▁sentence｜>",)
    assert TASKS.get("math500").stop == ("<|im_end|>", "<|endoftext|>"), "the registered task is unchanged"
