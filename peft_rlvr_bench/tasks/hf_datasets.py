"""Tasks read from Hugging Face datasets: competition math, GSM8K, and multiple-choice exams.

A ``DatasetTask`` names where its train and eval items come from (a hub id with config and split,
read with ``datasets.load_dataset``), which columns hold the question and the answer (with an
optional extraction: the last ``\\boxed{}`` of a MATH solution, the number after GSM8K's
``####``; or options plus a correct index/letter for multiple choice), the verifier that scores it
and the prompt template that wraps the question. Nothing is downloaded until items are asked for,
so ``prb validate`` and ``prb run --dry-run`` stay offline.

A suite can point any dataset task at local data and change the template without touching code
(``tasks/data.py``); a task bound to those settings is ``task.with_data(data)``.

Items: eval items are the first ``n`` of a fixed permutation of the eval split (seeded by the task
name), so a subset is a stable random sample; train items are the filtered train split, shuffled
by run seed and reshuffled for each further epoch when a budget needs more prompts than the split
holds. Train rows whose question also appears in the task's eval split are dropped.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from peft_rlvr_bench.tasks import Item
from peft_rlvr_bench.tasks.data import DataSpec, TemplatedPrompts
from peft_rlvr_bench.tasks.rows import Columns, Split, format_row, load_rows


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@dataclass(frozen=True)
class DatasetTask(TemplatedPrompts):
    """A task whose items come from Hugging Face datasets; implements the ``Task`` protocol."""

    name: str
    description: str
    verifier: str
    columns: Columns
    train: Split | None = None
    eval: Split | None = None
    eval_size: int = 0
    """Items in the official eval split, declared so that validation needs no download."""
    keep: Callable[[dict[str, Any]], bool] | None = field(default=None, repr=False)
    """Which train rows to use (MATH: levels 3-5)."""
    template: str = "qwen_math"
    data: DataSpec = field(default_factory=DataSpec, compare=False)
    """The suite's template and source overrides this task reads under (``with_data``)."""
    from_datasets: ClassVar[bool] = True

    def with_data(self, data: DataSpec) -> DatasetTask:
        """This task reading under a suite's ``data`` settings."""
        return replace(self, data=data)

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(s for s, source in (("train", self.train), ("eval", self.eval)) if source is not None)

    @property
    def max_eval_items(self) -> int:
        """The declared size of the eval split, or the real one when the suite points it elsewhere."""
        if self.eval is not None and self.name in self.data.sources:
            return len(self._pool("eval"))
        return self.eval_size

    def source(self, split: Literal["train", "eval"]) -> Split:
        """The split's source after the suite's override (``data``), if any."""
        default = self.train if split == "train" else self.eval
        if default is None:
            other = "eval" if split == "train" else "train"
            raise ValueError(
                f"task {self.name!r} has no {split} split (it is {other}-only); choose another task"
            )
        override = self.data.sources.get(self.name)
        if override is None:
            return default
        path = (
            (override.train_path if split == "train" else override.eval_path) or override.path or default.path
        )
        local_file = Path(path).expanduser().is_file()
        if (
            local_file
            and override.path
            and not (override.train_path or override.eval_path)
            and len(self.splits) > 1
        ):
            raise ValueError(
                f"data.sources.{self.name}.path is one file, but the task reads two splits; "
                "set train_path and eval_path, or point path at a directory"
            )
        return Split(
            path=path,
            split=default.split,
            name=override.name
            if override.name is not None
            else (None if path != default.path else default.name),
            revision=override.revision,
        )

    def _pool(self, split: Literal["train", "eval"]) -> list[Item]:
        source = self.source(split)
        rows = load_rows(source.path, source.split, source.name, source.revision)
        template = self.prompt_template
        items = []
        for row in rows:
            if split == "train" and self.keep is not None and not self.keep(row):
                continue
            formatted = format_row(dict(row), self.columns)
            if formatted is not None:
                items.append(Item(prompt=template.render(formatted[0]), answer=formatted[1]))
        if not items:
            raise ValueError(f"task {self.name!r}: no usable {split} items in {source.path}")
        return items

    def items(self, split: str, n: int, seed: int) -> list[Item]:
        if split == "eval":
            pool = self._pool("eval")
            if n > len(pool):
                raise ValueError(f"task {self.name!r} has {len(pool)} eval items; asked for {n}")
            order = list(range(len(pool)))
            random.Random(f"{self.name}:eval").shuffle(order)
            return [pool[i] for i in order[:n]]
        if split != "train":
            raise ValueError(f"split must be 'train' or 'eval', not {split!r}")
        pool = self._pool("train")
        if self.eval is not None:
            held_out = {_norm(item.prompt) for item in self._pool("eval")}
            pool = [item for item in pool if _norm(item.prompt) not in held_out]
        out: list[Item] = []
        epoch = 0
        while len(out) < n:
            order = list(range(len(pool)))
            random.Random(f"{self.name}:train:{seed}:{epoch}").shuffle(order)
            out.extend(pool[i] for i in order[: n - len(out)])
            epoch += 1
        return out


def _math_level_3_to_5(row: dict[str, Any]) -> bool:
    return str(row.get("level", "")).strip() in {"Level 3", "Level 4", "Level 5"}


_MATH = Columns(question=("problem",), answer="answer")

MATH_TRAIN = DatasetTask(
    "math_train",
    "MATH train split, levels 3-5 (Hendrycks et al.; answers from the solutions' last \\boxed{})",
    verifier="math_verify",
    columns=Columns(question=("problem",), answer="solution", extract="boxed"),
    train=Split("DigitalLearningGmbH/MATH-lighteval", "train", name="default"),
    keep=_math_level_3_to_5,
)
DEEPSCALER = DatasetTask(
    "deepscaler",
    "DeepScaleR-Preview: 40k AIME (to 2023), AMC, Omni-MATH and STILL problems (train only)",
    verifier="math_verify",
    columns=_MATH,
    train=Split("agentica-org/DeepScaleR-Preview-Dataset", "train"),
)
MATH500 = DatasetTask(
    "math500",
    "MATH-500 (Lightman et al.): 500 MATH test problems, in-domain",
    verifier="math_verify",
    columns=_MATH,
    eval=Split("HuggingFaceH4/MATH-500", "test"),
    eval_size=500,
)
AIME24 = DatasetTask(
    "aime24",
    "AIME 2024, 30 problems with integer answers",
    verifier="math_verify",
    columns=_MATH,
    eval=Split("HuggingFaceH4/aime_2024", "train"),
    eval_size=30,
)
AMC23 = DatasetTask(
    "amc23",
    "AMC 2023, the 40 problems of the Qwen2.5-Math evaluation",
    verifier="math_verify",
    columns=Columns(question=("question", "problem"), answer="answer"),
    eval=Split("math-ai/amc23", "test"),
    eval_size=40,
)
GSM8K = DatasetTask(
    "gsm8k",
    "GSM8K grade-school word problems (answers after '####'); train 7473, test 1319",
    verifier="math_verify",
    columns=Columns(question=("question",), answer="answer", extract="gsm8k"),
    train=Split("openai/gsm8k", "train", name="main"),
    eval=Split("openai/gsm8k", "test", name="main"),
    eval_size=1319,
)
GPQA_DIAMOND = DatasetTask(
    "gpqa_diamond",
    "GPQA Diamond: 198 graduate-level science questions, 4 options (gated on the hub), out-of-domain",
    verifier="choice_match",
    columns=Columns(
        question=("Question",),
        answer="Correct Answer",
        distractors=("Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"),
    ),
    eval=Split("Idavidrein/gpqa", "train", name="gpqa_diamond"),
    eval_size=198,
)
MMLU_PRO = DatasetTask(
    "mmlu_pro",
    "MMLU-Pro: 12k reasoning-heavy questions, up to 10 options, out-of-domain",
    verifier="choice_match",
    columns=Columns(question=("question",), answer="answer", choices="options", answer_is="letter"),
    eval=Split("TIGER-Lab/MMLU-Pro", "test"),
    eval_size=12032,
)
MMLU = DatasetTask(
    "mmlu",
    "MMLU: 14k questions over 57 subjects, 4 options; knowledge RL never trains (forgetting)",
    verifier="choice_match",
    columns=Columns(question=("question",), answer="answer", choices="choices", answer_is="index"),
    eval=Split("cais/mmlu", "test", name="all"),
    eval_size=14042,
)
