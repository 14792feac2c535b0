"""The shared task matrix: every registered task is held to the same invariants.

Tasks read from Hugging Face datasets are pointed at the local fixtures in the real layouts
(``tests/fixtures/datasets/``), so nothing is downloaded. Adding a task means adding one row to
``CASES``: the splits it has, how a completion states its answer (the form its prompts ask for),
and, for a dataset task, a fixture file in ``tests/helpers/datasets.py``'s ``SOURCES``.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from peft_rlvr_bench.registry import TASKS, VERIFIERS
from peft_rlvr_bench.tasks import Item, Task
from peft_rlvr_bench.tasks.data import DataSpec
from tests.helpers.coverage import check_rows
from tests.helpers.datasets import SOURCES
from tests.helpers.paths import REPO


def bare(answer: str) -> str:
    return answer


def boxed(answer: str) -> str:
    return f"The final answer is \\boxed{{{answer}}}."


@dataclass(frozen=True)
class Case:
    splits: tuple[str, ...]
    states: Callable[[str], str]
    """A completion stating ``answer`` the way the task's prompts ask for it."""


BOTH, TRAIN, EVAL = ("train", "eval"), ("train",), ("eval",)
CASES: dict[str, Case] = {
    "add": Case(BOTH, bare),
    "add_words": Case(BOTH, bare),
    "add_any": Case(BOTH, bare),
    "add_any_words": Case(BOTH, bare),
    "sub": Case(BOTH, bare),
    "copy": Case(BOTH, bare),
    "max": Case(BOTH, bare),
    "math_train": Case(TRAIN, boxed),
    "deepscaler": Case(TRAIN, boxed),
    "gsm8k": Case(BOTH, boxed),
    "math500": Case(EVAL, boxed),
    "aime24": Case(EVAL, boxed),
    "amc23": Case(EVAL, boxed),
    "gpqa_diamond": Case(EVAL, boxed),
    "mmlu_pro": Case(EVAL, boxed),
    "mmlu": Case(EVAL, boxed),
}


def rg_boxed(answer: str) -> str:
    """An rg item states reasoning-gym's answer, which its answer (the checker's JSON) holds."""
    return boxed(json.loads(answer)["entry"]["answer"])


def installed(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


FAMILY_MEMBERS: dict[str, Case] = (
    {"rg:chain_sum": Case(BOTH, rg_boxed), "rg:leg_counting": Case(BOTH, rg_boxed)}
    if installed("reasoning_gym")
    else {}
)
"""Members of task families (``prb list tasks`` shows ``rg:<dataset>``), held to the same
invariants where their optional extra is installed."""
ALL_CASES = {**CASES, **FAMILY_MEMBERS}

TRAIN_ITEMS = 40
"""More than any fixture holds, so dataset tasks go round their train split in reshuffled epochs."""


def task_of(name: str) -> Task:
    """The registered task, reading its fixture when it is a dataset task."""
    task = TASKS.get(name)
    return task.with_data(DataSpec(sources={name: SOURCES[name]})) if task.from_datasets else task


def eval_items(task: Task) -> list[Item]:
    return task.items("eval", min(task.max_eval_items, 200), seed=0)


def test_every_registered_task_has_a_row() -> None:
    check_rows(TASKS, CASES, "CASES of tests/registry/test_tasks.py")


def test_every_dataset_task_has_a_fixture_and_only_those() -> None:
    assert set(SOURCES) == {name for name in CASES if TASKS.get(name).from_datasets}


@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_a_task_is_registered_under_its_name_with_a_registered_verifier(name: str) -> None:
    task = task_of(name)
    assert task.name == name and task.verifier in VERIFIERS and task.description
    assert tuple(task.splits) == ALL_CASES[name].splits
    for split in {"train", "eval"} - set(task.splits):
        with pytest.raises(ValueError, match=f"no {split} split"):
            task.items(split, 1, seed=0)


@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_items_are_deterministic_and_train_items_follow_the_seed(name: str) -> None:
    task = task_of(name)
    if "eval" in task.splits:
        items = eval_items(task)
        assert items == eval_items(task_of(name)) and len(items) == min(task.max_eval_items, 200)
        assert len({item.prompt for item in items}) == len(items), "eval items are distinct problems"
    if "train" in task.splits:
        train = task.items("train", TRAIN_ITEMS, seed=0)
        assert train == task_of(name).items("train", TRAIN_ITEMS, seed=0) and len(train) == TRAIN_ITEMS
        assert train != task.items("train", TRAIN_ITEMS, seed=1), "the run seed draws the train items"


@pytest.mark.parametrize("name", [name for name in sorted(ALL_CASES) if ALL_CASES[name].splits == BOTH])
def test_train_never_repeats_an_eval_prompt(name: str) -> None:
    task = task_of(name)
    held_out = {item.prompt for item in task.items("eval", task.max_eval_items, seed=0)}
    for seed in range(3):
        train = task.items("train", TRAIN_ITEMS, seed=seed)
        assert not held_out & {item.prompt for item in train}


@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_the_verifier_scores_the_reference_answer_1_and_another_items_answer_0(name: str) -> None:
    task = task_of(name)
    verifier = VERIFIERS.get(task.verifier)
    split = "eval" if "eval" in task.splits else "train"
    items = eval_items(task) if split == "eval" else task.items("train", 5, seed=0)
    states = ALL_CASES[name].states
    for item in items[:5]:
        assert verifier(states(item.answer), item.answer) == 1.0, item
    other = next((item for item in items if item.answer != items[0].answer), None)
    assert other is not None, "the items have more than one answer"
    assert verifier(states(other.answer), items[0].answer) == 0.0


def test_items_are_the_same_in_another_process() -> None:
    """Items come from string-seeded streams and fixed permutations: no hash randomisation or
    process state may move them (a resumed or launched run draws the same prompts)."""
    code = (
        "import json\n"
        "from tests.registry.test_tasks import ALL_CASES, eval_items, task_of\n"
        "out = {}\n"
        "for name in sorted(ALL_CASES):\n"
        "    task = task_of(name)\n"
        "    items = eval_items(task) if 'eval' in task.splits else task.items('train', 8, seed=3)\n"
        "    out[name] = [[item.prompt, item.answer] for item in items]\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONHASHSEED": "123"},
        capture_output=True,
        text=True,
        check=True,
    )
    there = json.loads(done.stdout.strip().splitlines()[-1])
    for name in sorted(ALL_CASES):
        task = task_of(name)
        items = eval_items(task) if "eval" in task.splits else task.items("train", 8, seed=3)
        assert there[name] == [[item.prompt, item.answer] for item in items], name
