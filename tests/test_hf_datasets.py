"""Dataset tasks on local fixtures with the real datasets' column layouts (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.registry import TASKS
from peft_rlvr_bench.suite import load_suite
from peft_rlvr_bench.tasks import Task
from peft_rlvr_bench.tasks.data import DataSpec
from peft_rlvr_bench.tasks.rows import gsm8k_answer, last_boxed

FIXTURES = Path(__file__).parent / "fixtures" / "datasets"
SOURCES = {
    "math_train": {"path": str(FIXTURES / "math_train.jsonl")},
    "math500": {"path": str(FIXTURES / "math500.jsonl")},
    "aime24": {"path": str(FIXTURES / "aime24.jsonl")},
    "amc23": {"path": str(FIXTURES / "amc23.jsonl")},
    "gsm8k": {
        "train_path": str(FIXTURES / "gsm8k_train.jsonl"),
        "eval_path": str(FIXTURES / "gsm8k_test.jsonl"),
    },
    "gpqa_diamond": {"path": str(FIXTURES / "gpqa_diamond.jsonl")},
    "mmlu": {"path": str(FIXTURES / "mmlu.jsonl")},
    "mmlu_pro": {"path": str(FIXTURES / "mmlu_pro.jsonl")},
}


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines()]


def fixture_task(name: str, **data: Any) -> Task:
    """The registered task reading under a suite's ``data`` settings (default: the fixtures)."""
    return TASKS.get(name).with_data(DataSpec(**{"sources": SOURCES, **data}))


def test_answer_extraction() -> None:
    assert last_boxed("so $\\boxed{\\frac{5}{6}}$.") == "\\frac{5}{6}"
    assert last_boxed("\\boxed{1} then \\boxed{\\sqrt{\\frac{a}{b}}}") == "\\sqrt{\\frac{a}{b}}"
    assert last_boxed("no answer") is None
    assert gsm8k_answer("4*4=<<4*4=16>>16 wheels.\n#### 1,016") == "1016"
    assert gsm8k_answer("no marker") is None


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


def test_lm_eval_config_stops_at_the_template_marker_and_takes_all_items() -> None:
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.evaluation import lm_eval_task_config

    config = lm_eval_task_config("math500", "all", 3000, context=RunContext(data=DataSpec(sources=SOURCES)))
    assert config["generation_kwargs"]["until"] == ["<|im_end|>", "<|endoftext|>"]
    assert config["generation_kwargs"]["max_gen_toks"] == 3000
    data = Path(config["dataset_kwargs"]["data_files"]["test"]).read_text().splitlines()
    assert len(data) == 10 and json.loads(data[0])["verifier"] == "math_verify"
    assert lm_eval_task_config("add", 4, 8)["generation_kwargs"]["until"] == ["\n", "<eos>"], (
        "tiny tasks unchanged"
    )


SUITE = """\
name: t
model: {name: Qwen/Qwen2.5-Math-1.5B}
train_task: math_train
eval:
  in_domain: [math500, aime24]
  forgetting: [mmlu]
  n_items: all
  task_items: {mmlu: 1000}
recipe: {name: grpo}
budget: {max_steps: 5}
seeds: [0]
adapters:
  - {name: lora, lr: 1.0e-5}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_suites_name_dataset_tasks_without_any_download(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, SUITE))
    assert suite.runs[0].eval.items_for("mmlu") == 1000 and suite.runs[0].eval.items_for("aime24") == "all"
    with_data = load_suite(write(tmp_path, SUITE + "data: {sources: {math500: {path: /x.jsonl}}}\n"))
    assert with_data.runs[0].run_id != suite.runs[0].run_id, (
        "where the data comes from is part of the identity"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("train_task: math_train", "train_task: math500"), "train_task: task 'math500' has no train split"),
        (("[math500, aime24]", "[math500, math_train]"), "task 'math_train' has no eval split"),
        (("n_items: all", "n_items: 40"), "task 'aime24' has 30 eval items; set n_items <= 30"),
        (("{mmlu: 1000}", "{mmlu: 20000}"), "eval.task_items.mmlu: task 'mmlu' has 14042 eval items"),
        (("{mmlu: 1000}", "{mlu: 1000}"), "'mlu' is not an eval task of this suite (did you mean 'mmlu'?)"),
        (("n_items: all", "n_items: some"), "eval.n_items"),
    ],
)
def test_bad_dataset_settings_are_one_line(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(UserError, match=r"suite\.yaml:[0-9]+: ") as caught:
        load_suite(write(tmp_path, SUITE.replace(*change)))
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("data: {template: qwen_maths}", "unknown template 'qwen_maths' (did you mean 'qwen_math'?)"),
        ("data: {sources: {math5000: {path: x}}}", "unknown task 'math5000' (did you mean 'math500'?)"),
        ("data: {sources: {add: {path: x}}}", "task 'add' is not read from a dataset"),
        ("data: {sources: {math500: {pth: x}}}", "unknown field (did you mean 'path'?)"),
    ],
)
def test_bad_data_sections_are_one_line(tmp_path: Path, data: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        load_suite(write(tmp_path, SUITE + data + "\n"))
    assert message in str(caught.value)
