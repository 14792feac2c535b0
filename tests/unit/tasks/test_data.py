"""A suite's data section: dataset tasks named without any download, bad settings in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.suite import load_suite
from tests.helpers.datasets import SUITE
from tests.helpers.suites import write


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
