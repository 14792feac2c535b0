"""Reading dataset rows into (question, answer) pairs: columns, answer extraction, multiple choice.

Pure functions of a row, plus ``load_rows`` (``datasets``, imported only when rows are asked for,
so ``prb validate`` and ``prb run --dry-run`` stay offline).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal


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
