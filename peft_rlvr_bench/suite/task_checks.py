"""Suite checks of tasks: names that resolve, splits, eval pool sizes, answers fit for SFT and
the answer NLL, and the ``data`` section (template, sources, reasoning-gym knobs)."""

from __future__ import annotations

from typing import Any

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.registry import RECIPES, TASKS, did_you_mean
from peft_rlvr_bench.suite.eval_spec import EvalSpec
from peft_rlvr_bench.suite.spec import SuiteSpec
from peft_rlvr_bench.tasks.data import TEMPLATES

Loc = tuple[str | int, ...]


def check_tasks(spec: SuiteSpec) -> list[tuple[Loc, str]]:
    """Every task problem of the suite as (location, message)."""
    errors = _check_task(spec.train_task, ("train_task",), "train")
    for role, names in spec.eval.roles().items():
        for i, name in enumerate(names):
            errors += _check_task(name, ("eval", role, i), "eval")
    errors += _check_eval_pool_sizes(spec.eval)
    errors += _check_answers_are_text(spec)
    errors += _check_data(spec)
    return errors


def _task(name: str) -> Any | None:
    """The task, or None when the name does not resolve (``_check_task`` reports why)."""
    if name not in TASKS:
        return None
    try:
        return TASKS.get(name)
    except UserError:  # a family member that does not exist, or needs an extra
        return None


def _check_task(name: str, loc: Loc, split: str = "eval") -> list[tuple[Loc, str]]:
    if name not in TASKS:
        return [(loc, f"unknown task {name!r}{did_you_mean(name, TASKS.names())}; see `prb list tasks`")]
    try:
        splits = TASKS.get(name).splits
    except UserError as exc:  # rg:<dataset>: unknown dataset, or reasoning-gym not installed
        return [(loc, str(exc))]
    if split not in splits:
        return [(loc, f"task {name!r} has no {split} split (only {', '.join(splits)}); see `prb list tasks`")]
    return []


def _check_data(spec: SuiteSpec) -> list[tuple[Loc, str]]:
    """The template exists; overridden sources belong to dataset tasks; task_items name eval tasks."""
    errors: list[tuple[Loc, str]] = []
    if spec.data is not None and spec.data.template is not None and spec.data.template not in TEMPLATES:
        hint = did_you_mean(spec.data.template, sorted(TEMPLATES))
        errors.append(
            (
                ("data", "template"),
                f"unknown template {spec.data.template!r}{hint}; known: {', '.join(TEMPLATES)}",
            )
        )
    for name in spec.data.sources if spec.data is not None else {}:
        loc = ("data", "sources", name)
        task = _task(name)
        if task is None:
            errors += _check_task(name, loc)  # unknown, or a family member that does not resolve
        elif not task.from_datasets:
            errors.append((loc, f"task {name!r} is not read from a dataset; remove it"))
    for name in spec.data.reasoning_gym if spec.data is not None else {}:
        loc = ("data", "reasoning_gym", name)
        task = _task(name)
        if task is None:
            errors += _check_task(name, loc)
        elif not hasattr(task, "check_knobs"):
            errors.append((loc, f"{name!r} is not a reasoning-gym task (rg:<dataset>); remove it"))
        elif (problem := task.with_data(spec.data).check_knobs()) is not None:
            errors.append((loc, problem))
    evaluated = {task for names in spec.eval.roles().values() for task in names}
    for field in ("task_items", "task_max_new_tokens"):
        for name in getattr(spec.eval, field):
            if name not in evaluated:
                hint = did_you_mean(name, sorted(evaluated))
                errors.append((("eval", field, name), f"{name!r} is not an eval task of this suite{hint}"))
    return errors


def _answers_are_text(name: str) -> bool:
    """Whether the task's answers are text a model could write (not rg:'s checker JSON)."""
    task = _task(name)
    return task is None or getattr(task, "answers_are_text", True)


def _check_answers_are_text(spec: SuiteSpec) -> list[tuple[Loc, str]]:
    """SFT imitates the train answers and ``loss_items`` scores forgetting answers by their NLL:
    both need answers that are text, which an rg task's (its checker's data) are not."""
    errors: list[tuple[Loc, str]] = []
    if not _answers_are_text(spec.train_task):
        for loc, recipe in spec.recipe_entries():
            if recipe.name in RECIPES and not RECIPES.get(recipe.name).generates:
                message = f"{spec.train_task!r} has checker data for answers, nothing to imitate"
                errors.append((loc, f"recipe {recipe.name!r} trains on answers; {message}; use grpo"))
    if spec.eval.loss_items:
        for i, name in enumerate(spec.eval.forgetting):
            if not _answers_are_text(name):
                fix = "set eval.loss_items: 0 or move it to out_of_domain"
                errors.append(
                    (("eval", "forgetting", i), f"loss_items needs text answers, {name!r} has none; {fix}")
                )
    return errors


def _check_eval_pool_sizes(spec: EvalSpec) -> list[tuple[Loc, str]]:
    """Each task's items (``task_items``, else ``n_items``; ``all`` always fits) fit its eval pool."""
    limits = {
        name: task.max_eval_items
        for names in spec.roles().values()
        for name in names
        if (task := _task(name)) is not None and "eval" in task.splits
    }
    errors: list[tuple[Loc, str]] = []
    for name, limit in sorted(limits.items(), key=lambda item: item[1]):
        wanted = spec.items_for(name)
        if wanted == "all" or wanted <= limit:
            continue
        if name in spec.task_items:
            errors.append(
                (("eval", "task_items", name), f"task {name!r} has {limit} eval items; set <= {limit}")
            )
        else:
            fix = f"set n_items <= {limit}, `all`, or eval.task_items: {{{name}: {limit}}}"
            errors.append((("eval", "n_items"), f"task {name!r} has {limit} eval items; {fix}"))
    return errors
