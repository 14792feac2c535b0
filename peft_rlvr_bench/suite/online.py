"""``prb validate --online``: what a suite needs from the network, checked in seconds before a run
needs it. The base model's config, and one row of every dataset split the suite reads (the train
task's train split, every evaluated task's eval split), streamed from the hub or read from the
suite's local sources, checked for the columns the task reads.

Each problem is one line naming the suite file, the field and the fix: a gated repository (accept
its terms, set ``HF_TOKEN``), one that does not exist, a split or column the task cannot find.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from peft_rlvr_bench.suite.spec import Suite


def online_problems(suite: Suite) -> list[str]:
    """Every problem found, one line each; empty when the model and every split answer."""
    spec = suite.spec
    where = str(suite.path)
    problems = []
    if spec.model.world is None:
        problem = _model_problem(spec.model.path or spec.model.name, spec.model.trust_remote_code)
        if problem:
            field = "model.path" if spec.model.path else "model.name"
            problems.append(f"{where}: {field}: {problem}")
    for task_name, split in _splits(suite):
        problem = _split_problem(task_name, split, suite)
        if problem:
            problems.append(f"{where}: {problem}")
    return problems


def _splits(suite: Suite) -> Iterator[tuple[str, str]]:
    """(task, split) for every dataset split the suite reads, once each."""
    from peft_rlvr_bench.registry import TASKS

    spec = suite.spec
    wanted = [(spec.train_task, "train")]
    wanted += [(task, "eval") for names in spec.eval.roles().values() for task in names]
    for task_name, split in dict.fromkeys(wanted):
        if getattr(TASKS.get(task_name), "from_datasets", False):
            yield task_name, split


def _model_problem(location: str, trust_remote_code: bool) -> str | None:
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(location, trust_remote_code=trust_remote_code)
    except Exception as exc:  # the hub's and transformers' errors, each turned into a line
        return _hub_problem(exc, location, "model", "set model.path to a local copy")
    return None


def _split_problem(task_name: str, split: str, suite: Suite) -> str | None:
    """One row of the split, or why there is none; then the columns the task reads."""
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.tasks.data import DataSpec
    from peft_rlvr_bench.tasks.rows import format_row

    data = suite.spec.data or DataSpec()
    task: Any = RunContext(data=data).task(task_name)
    source = task.source(split)
    field = f"data.sources.{task_name}"
    fix = f"point {field} at a copy" if task_name in data.sources else f"set {field} to a local copy"
    label = f"task {task_name} ({split} split: {source.path}"
    label += f", config {source.name})" if source.name else ")"
    try:
        row = first_row(source.path, source.split, source.name, source.revision)
    except Exception as exc:
        return f"{label}: {_hub_problem(exc, source.path, 'dataset', fix)}"
    if row is None:
        return f"{label}: the split is empty; {fix}"
    columns = task.columns
    needed = [*([] if any(c in row for c in columns.question) else [" or ".join(columns.question)])]
    needed += [c for c in (columns.answer, columns.choices, *columns.distractors) if c and c not in row]
    if needed:
        return (
            f"{label}: no column {', '.join(repr(c) for c in needed)} (it has {', '.join(sorted(row))}); "
            f"{fix} that has them"
        )
    try:
        format_row(dict(row), columns)
    except Exception as exc:
        return f"{label}: its first row cannot be read ({type(exc).__name__}: {exc}); {fix}"
    return None


def first_row(path: str, split: str, name: str | None, revision: str | None) -> dict[str, Any] | None:
    """The first row of a split without downloading it: streamed from the hub, read from a local
    file or directory (``tasks/rows.py`` reads the whole split the same ways)."""
    import datasets

    from peft_rlvr_bench.tasks.rows import load_rows

    local = Path(path).expanduser()
    if local.exists():
        rows = load_rows(path, split, name, revision)
        return dict(rows[0]) if rows else None
    stream = datasets.load_dataset(path, name, split=split, revision=revision, streaming=True)
    return next((dict(row) for row in stream), None)


def _hub_problem(exc: Exception, what: str, kind: str, fix: str) -> str:
    """A hub or loading failure as the fix a user needs."""
    from datasets.exceptions import DatasetNotFoundError
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    page = f"https://huggingface.co/{'datasets/' if kind == 'dataset' else ''}{what}"
    if isinstance(exc, GatedRepoError) or "gated" in str(exc).lower():
        return f"{what} is gated on the hub: accept its terms at {page} and set HF_TOKEN, or {fix}"
    if isinstance(exc, RepositoryNotFoundError | DatasetNotFoundError):
        return f"no {kind} {what} on the hub (or it is private: set HF_TOKEN); check the name, or {fix}"
    first_line = next(iter(str(exc).splitlines()), "")[:300]
    return f"cannot load {kind} {what} ({type(exc).__name__}: {first_line}); {fix}"
