"""Tasks read from Hugging Face datasets: competition math, GSM8K, and multiple-choice exams.

A ``DatasetTask`` names where its train and eval items come from (a hub id with config and split,
read with ``datasets.load_dataset``), which columns hold the question and the answer (with an
optional extraction: the last ``\\boxed{}`` of a MATH solution, the number after GSM8K's
``####``; or options plus a correct index/letter for multiple choice), the verifier that scores it
and the prompt template that wraps the question. Nothing is downloaded until items are asked for,
so ``prb validate`` and ``prb run --dry-run`` stay offline.

A suite can point any dataset task at local data and change the template without touching code:

.. code-block:: yaml

    data:
      template: r1_distill                       # instead of each task's default (qwen_math)
      sources:
        math500: {path: /data/math500.jsonl}      # a file (.jsonl/.json/.parquet/.csv): the split itself
        gsm8k: {path: /data/gsm8k}                # a directory or hub id: every split the task reads
        math_train: {train_path: /data/math_train.parquet}

These settings are part of every run's identity. While a run executes, the runner binds them
(``bind(data)``), so every place that asks a task for items sees the same data.

Items: eval items are the first ``n`` of a fixed permutation of the eval split (seeded by the task
name), so a subset is a stable random sample; train items are the filtered train split, shuffled
by run seed and reshuffled for each further epoch when a budget needs more prompts than the split
holds. Train rows whose question also appears in the task's eval split are dropped.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from peft_rlvr_bench.tasks import Item

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class PromptTemplate:
    """How a question becomes the prompt text, and the strings that end a completion."""

    text: str
    """``{question}`` is replaced by the question (no ``str.format``: LaTeX is full of braces)."""
    stop: tuple[str, ...] = ()
    """Generation stops at these (besides the tokenizer's EOS): lm-eval ``until``, TRL stop tokens."""
    description: str = ""

    def render(self, question: str) -> str:
        return self.text.replace("{question}", question)


TEMPLATES: dict[str, PromptTemplate] = {
    "qwen_math": PromptTemplate(
        "<|im_start|>system\n" + BOXED_INSTRUCTION + "<|im_end|>\n"
        "<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n",
        stop=("<|im_end|>", "<|endoftext|>"),
        description="Qwen2.5-Math's chain-of-thought chat prompt (also Qwen2.5/Qwen3 base models)",
    ),
    "r1_distill": PromptTemplate(
        "<｜begin▁of▁sentence｜><｜User｜>{question}\n" + BOXED_INSTRUCTION + "<｜Assistant｜><think>\n",
        stop=("<｜end▁of▁sentence｜>",),
        # The BOS is written out: TRL and lm-eval tokenize prompts without adding special tokens.
        description="DeepSeek-R1-Distill's recommended prompt",
    ),
    "boxed": PromptTemplate(
        "{question}\n" + BOXED_INSTRUCTION + "\n",
        description="plain text for models without a chat format",
    ),
    "plain": PromptTemplate("{question}", description="the question alone"),
}


class SourceOverride(BaseModel):
    """Where a dataset task reads from instead of its registered default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(
        None, description="hub id, local directory, or data file (.jsonl/.json/.parquet/.csv) for every split"
    )
    train_path: str | None = Field(None, description="the train split's hub id, directory or file")
    eval_path: str | None = Field(None, description="the eval split's hub id, directory or file")
    name: str | None = Field(None, description="the dataset config (hub ids and directories)")
    revision: str | None = Field(None, description="a hub revision (commit, tag or branch)")


class DataSpec(BaseModel):
    """A suite's ``data:`` section: the prompt template and local sources of dataset tasks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str | None = Field(
        None, description="prompt template of every dataset task: qwen_math, r1_distill, boxed or plain"
    )
    sources: dict[str, SourceOverride] = Field(
        default_factory=dict,
        description="{task: {path: ...}}: read these tasks from local files or other ids",
    )


@dataclass(frozen=True)
class Split:
    """One split of one dataset: ``load_dataset(path, name, split=split)``."""

    path: str
    split: str
    name: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class Columns:
    """Which columns make an item, and how the answer is read from them."""

    question: tuple[str, ...] = ("problem",)
    """Candidate question columns; the first one a row has is used (mirrors differ)."""
    answer: str = "answer"
    extract: Literal["none", "boxed", "gsm8k"] = "none"
    """``boxed``: the last ``\\boxed{}`` of the column (MATH solutions); ``gsm8k``: after ``####``."""
    choices: str | None = None
    """A list column of options (MMLU ``choices``, MMLU-Pro ``options``): a multiple-choice item."""
    answer_is: Literal["text", "index", "letter"] = "text"
    """For multiple choice: the answer column holds the option's index, its letter, or (GPQA) its text."""
    distractors: tuple[str, ...] = ()
    """GPQA: columns of the wrong options; with the answer text they are shuffled per question."""


LETTERS = "ABCDEFGHIJ"
CHOICE_INSTRUCTION = "Answer with the letter of the correct option."


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; None if none."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    opening = text.find("{", start)
    if opening < 0:
        return None
    depth = 0
    for index in range(opening, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[opening + 1 : index]
    return None


def gsm8k_answer(text: str) -> str | None:
    """The number after GSM8K's ``####`` marker, without thousands separators."""
    _, marker, tail = text.rpartition("####")
    return tail.strip().replace(",", "") or None if marker else None


def _extract(value: Any, how: str) -> str | None:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # some mirrors store integer answers as floats (AMC: 7.0)
    text = str(value)
    if how == "boxed":
        return last_boxed(text)
    if how == "gsm8k":
        return gsm8k_answer(text)
    return text.strip()


def _question(row: dict[str, Any], columns: Columns) -> str:
    for name in columns.question:
        if name in row:
            return str(row[name]).strip()
    raise KeyError(f"no question column among {list(columns.question)}; the row has {sorted(row)}")


def format_row(row: dict[str, Any], columns: Columns) -> tuple[str, str] | None:
    """(question text, answer) of one dataset row; None when the row has no usable answer."""
    question = _question(row, columns)
    if columns.choices is None and not columns.distractors:
        answer = _extract(row[columns.answer], columns.extract)
        return (question, answer) if answer else None
    if columns.distractors:  # GPQA: the correct text and the wrong ones, in a per-question order
        options = [str(row[columns.answer]).strip(), *(str(row[c]).strip() for c in columns.distractors)]
        order = random.Random(hashlib.sha256(question.encode()).hexdigest()).sample(
            range(len(options)), len(options)
        )
        shuffled = [options[i] for i in order]
        letter = LETTERS[order.index(0)]
    else:
        shuffled = [str(option).strip() for option in row[columns.choices]]
        raw = row[columns.answer]
        letter = LETTERS[int(raw)] if columns.answer_is == "index" else str(raw).strip().upper()
    listing = "\n".join(f"{LETTERS[i]}) {option}" for i, option in enumerate(shuffled))
    return f"{question}\n\n{listing}\n\n{CHOICE_INSTRUCTION}", letter


# ---------------------------------------------------------------------------------------------
# Loading (lazy: `datasets` is imported only when items are asked for)

_FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


@lru_cache(maxsize=32)
def load_rows(
    path: str, split: str, name: str | None = None, revision: str | None = None
) -> tuple[dict, ...]:
    """The rows of one split: a data file is the split itself; a ``save_to_disk`` directory, a
    directory of data files or a hub id is read with ``datasets`` at ``split``."""
    import datasets

    local = Path(path).expanduser()
    if local.is_file():
        builder = _FILE_BUILDERS.get(local.suffix)
        if builder is None:
            raise ValueError(f"{local}: unknown data file type; use one of {', '.join(_FILE_BUILDERS)}")
        data = datasets.load_dataset(builder, data_files=str(local), split="train")
    elif local.is_dir() and (local / "dataset_dict.json").exists():
        data = datasets.load_from_disk(str(local))[split]
    elif local.is_dir() and (local / "dataset_info.json").exists():
        data = datasets.load_from_disk(str(local))
    else:
        data = datasets.load_dataset(
            str(local) if local.is_dir() else path, name, split=split, revision=revision
        )
    return tuple(data)


# ---------------------------------------------------------------------------------------------
# Binding a suite's data settings while its runs execute

_bound = DataSpec()


def bind(data: DataSpec | None) -> None:
    """Makes ``data`` the template and sources every dataset task uses in this process."""
    global _bound
    _bound = data or DataSpec()


def bound() -> DataSpec:
    return _bound


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@dataclass(frozen=True)
class DatasetTask:
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

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(s for s, source in (("train", self.train), ("eval", self.eval)) if source is not None)

    @property
    def max_eval_items(self) -> int:
        """The declared size of the eval split, or the real one when the suite points it elsewhere."""
        if self.eval is not None and self.name in _bound.sources:
            return len(self._pool("eval"))
        return self.eval_size

    @property
    def prompt_template(self) -> PromptTemplate:
        return TEMPLATES[_bound.template or self.template]

    @property
    def stop(self) -> tuple[str, ...]:
        return self.prompt_template.stop

    def source(self, split: Literal["train", "eval"]) -> Split:
        """The split's source after the bound suite's override, if any."""
        default = self.train if split == "train" else self.eval
        if default is None:
            other = "eval" if split == "train" else "train"
            raise ValueError(
                f"task {self.name!r} has no {split} split (it is {other}-only); choose another task"
            )
        override = _bound.sources.get(self.name)
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
