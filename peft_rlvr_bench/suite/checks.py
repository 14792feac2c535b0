"""Suite validation: every problem as (location, message), located later on its YAML line.

The schema (``suite/spec.py``) checks shapes and types; these checks need the registries or the
model: unknown components with suggestions, each component's own parameter errors, tasks
(``suite/task_checks.py``), ranks that fit the model's matrices, runs a run depends on, launch
and trajectory settings. ``line_of`` maps a location to the line of the YAML node it names.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from peft_rlvr_bench.adapters import AdapterParams
from peft_rlvr_bench.architecture import BLOCK_LINEARS, resolve_architecture, world_architecture
from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.registry import ADAPTERS, EXTRAPOLATORS, RECIPES, did_you_mean
from peft_rlvr_bench.rlvr.recipes import check_trl
from peft_rlvr_bench.suite.spec import (
    SAFE_NAME,
    SHARDED_STRATEGIES,
    TINY_MODEL,
    AdapterEntry,
    ComponentEntry,
    ModelSpec,
    SuiteSpec,
)
from peft_rlvr_bench.suite.task_checks import Loc, check_tasks


def non_finite(data: Any, loc: Loc = ()) -> list[Loc]:
    """Where ``data`` holds inf or NaN (YAML's ``.inf``, ``.nan``), at any depth: no setting of
    any component means them, and a pass-through mapping (``recipe.trl``) is checked here too."""
    if isinstance(data, float) and not math.isfinite(data):
        return [loc]
    if isinstance(data, dict):
        return [found for key, value in data.items() for found in non_finite(value, (*loc, key))]
    if isinstance(data, list):
        return [found for i, value in enumerate(data) for found in non_finite(value, (*loc, i))]
    return []


def validate(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    """Every problem as (location, message), top-level schema first, then components."""
    infinite = non_finite(data)
    if infinite:
        return [(loc, "not a finite number (inf or NaN); write a finite value") for loc in infinite]
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        return [describe(err, SuiteSpec) for err in exc.errors()]
    errors: list[tuple[Loc, str]] = []
    errors += check_tasks(spec)
    errors += _check_references(spec)
    for i, entry in enumerate(spec.extrapolation):
        component_errors = _check_component(EXTRAPOLATORS, entry, ("extrapolation", i))
        errors += component_errors or _check_driven_window(spec, i)
        if spec.trajectory is None:
            errors.append((("extrapolation", i), "needs recorded trajectories; add `trajectory: {every: K}`"))
        labels_known = {adapter.display_name for adapter in spec.adapters}
        for label in entry.applies_to or []:
            if label not in labels_known:
                hint = did_you_mean(label, sorted(labels_known))
                errors.append(
                    (
                        ("extrapolation", i, "applies_to"),
                        f"no adapter entry is labelled {label!r}{hint}; use the labels of `adapters`",
                    )
                )
        if entry.observe > spec.budget.max_steps:
            errors.append(
                (
                    ("extrapolation", i, "observe"),
                    f"exceeds budget.max_steps ({spec.budget.max_steps}); lower it",
                )
            )
    errors += _check_component(RECIPES, spec.recipe, ("recipe",))
    errors += _check_launch(spec)
    errors += _check_sleep(spec)
    errors += _check_controls(spec)
    labels: dict[str, int] = {}
    for i, entry in enumerate(spec.adapters):
        if entry.recipe is not None:
            errors += _check_component(RECIPES, entry.recipe, ("adapters", i, "recipe"))
        component_errors = _check_component(ADAPTERS, entry, ("adapters", i))
        errors += component_errors or _check_required_runs(spec, i)
        if entry.display_name in labels:
            errors.append(
                (
                    ("adapters", i, "label"),
                    f"{entry.display_name!r} repeats adapters[{labels[entry.display_name]}]; "
                    "give each entry a distinct label",
                )
            )
        labels.setdefault(entry.display_name, i)
        if entry.intervention is not None and entry.name != "full":
            errors.append(
                (
                    ("adapters", i, "intervention"),
                    "rank1_substitution rewrites full weights; use it with `full`",
                )
            )
        if not SAFE_NAME.match(entry.display_name):
            errors.append(
                (
                    ("adapters", i, "label"),
                    "use letters, digits, '.', '_' and '-' only; it names result files",
                )
            )
    return errors


def _check_driven_window(spec: SuiteSpec, index: int) -> list[tuple[Loc, str]]:
    """A method that trains between predictions checks its window against the recording interval."""
    entry = spec.extrapolation[index]
    method = EXTRAPOLATORS.get(entry.name)
    if not method.drives_training or spec.trajectory is None:
        return []
    try:
        params = method.Params.model_validate(entry.params())
        method().validate(entry.observe, entry.target, spec.trajectory.every, params)
    except ValueError as exc:
        return [(("extrapolation", index), str(exc))]
    return []


def _check_launch(spec: SuiteSpec) -> list[tuple[Loc, str]]:
    """Every recipe's batch must split evenly over the processes; sharded strategies cannot record
    trajectories (a record needs whole weights at every recorded update)."""
    launch = spec.launch
    if launch is None or launch.processes == 1:
        return []
    errors: list[tuple[Loc, str]] = []
    if launch.strategy in SHARDED_STRATEGIES and spec.trajectory is not None:
        errors.append(
            (
                ("launch", "strategy"),
                f"{launch.strategy} shards the weights, and recording a trajectory needs them whole; "
                "use zero2 or ddp, or remove `trajectory`",
            )
        )
    for _, entry in spec.recipe_entries():
        if entry.name not in RECIPES:
            continue  # reported by _check_component
        recipe = RECIPES.get(entry.name)()
        try:
            params = recipe.Params.model_validate(entry.params())
        except ValidationError:
            continue
        batch, what = recipe.update_batch(params)
        if batch % launch.processes:
            errors.append(
                (
                    ("launch", "processes"),
                    f"recipe {entry.name!r}: {what} ({batch}) does not split over {launch.processes} "
                    "processes; pick a divisor of it",
                )
            )
    return errors


def _check_sleep(spec: SuiteSpec) -> list[tuple[Loc, str]]:
    """The evaluation engine's sleep and TRL's rollout sleep exclude each other: vLLM keeps one
    sleep-mode allocator per process, and putting one engine to sleep releases the memory of
    every engine built with sleep mode, the other's weights included."""
    if spec.generation is None or not spec.generation.vllm_eval_sleep:
        return []
    recipes = [entry for _, entry in spec.recipe_entries()]
    if not any((entry.params().get("trl") or {}).get("vllm_enable_sleep_mode") for entry in recipes):
        return []
    return [
        (
            ("generation", "vllm_eval_sleep"),
            "cannot be combined with recipe.trl.vllm_enable_sleep_mode (vLLM has one sleep "
            "allocator per process, so either engine's sleep would release the other's weights); "
            "keep one of them",
        )
    ]


def _check_references(spec: SuiteSpec) -> list[tuple[Loc, str]]:
    """What names files or needs the model: safe labels, an existing model path, ranks that fit
    the model's matrices (when its config is at hand), trajectories kept for extrapolation."""
    errors: list[tuple[Loc, str]] = []
    for i, entry in enumerate(spec.extrapolation):
        if entry.label is not None and not SAFE_NAME.match(entry.label):
            errors.append(
                (("extrapolation", i, "label"), "use letters, digits, '.', '_' and '-' only; it names files")
            )
    if spec.extrapolation and spec.trajectory is not None and not spec.trajectory.keep:
        errors.append(
            (("trajectory", "keep"), "extrapolation reads the recorded trajectories; set keep: true")
        )
    if spec.model.path is not None and not Path(spec.model.path).is_dir():
        errors.append(
            (
                ("model", "path"),
                f"no such directory {spec.model.path!r}; save the model there, or remove `path` to load "
                f"{spec.model.name!r} from the Hugging Face hub",
            )
        )
    shapes = _matrix_shapes(spec.model)
    for i, entry in enumerate(spec.adapters):
        if shapes and entry.name in ADAPTERS:
            errors += _check_rank_fits(ADAPTERS.get(entry.name).Params, entry, shapes, ("adapters", i))
    return errors


def _check_controls(spec: SuiteSpec) -> list[tuple[Loc, str]]:
    """A control names another entry; a negative control is that entry's configuration on
    seeds it does not share (on the same seeds the two arms would be the same runs)."""
    errors: list[tuple[Loc, str]] = []
    by_label = {entry.display_name: entry for entry in spec.adapters}
    for i, entry in enumerate(spec.adapters):
        if entry.control is None:
            continue
        loc: Loc = ("adapters", i, "control", "against")
        against = by_label.get(entry.control.against)
        if against is None or against is entry:
            others = sorted(label for label in by_label if label != entry.display_name)
            hint = did_you_mean(entry.control.against, others)
            errors.append(
                (loc, f"{entry.control.against!r} is not another entry's label{hint}; use one of {others}")
            )
            continue
        if entry.control.kind != "negative":
            continue
        differs = sorted(
            name
            for name in {"name", "lr", "recipe", "intervention", *entry.params(), *against.params()}
            if name not in {"label", "seeds", "control"}
            and _entry_value(entry, name) != _entry_value(against, name)
        )
        if differs:
            errors.append(
                (
                    ("adapters", i, "control"),
                    f"a negative control repeats {against.display_name!r} exactly; it differs in "
                    f"{', '.join(differs)}: make them equal, or use kind: positive",
                )
            )
        shared = sorted(set(entry.seeds or spec.seeds) & set(against.seeds or spec.seeds))
        if shared:
            errors.append(
                (
                    ("adapters", i, "seeds"),
                    f"shares seeds {shared} with {against.display_name!r}, so those runs are the same "
                    "runs; give the negative control seeds of its own, e.g. seeds: [100, 101, 102]",
                )
            )
    return errors


def _entry_value(entry: AdapterEntry, name: str) -> Any:
    return entry.params().get(name) if name in entry.params() else getattr(entry, name, None)


def _matrix_shapes(model: ModelSpec) -> dict[str, tuple[int, int]]:
    """(out, in) of each block linear, when the model's architecture is knowable without a
    download (``architecture.py``); empty otherwise (loading reports the rest)."""
    try:
        if model.name == TINY_MODEL and model.world is not None:
            arch = world_architecture(model.world)[0]
        else:
            arch = resolve_architecture(model.name, model.path, strict=False)[0]
    except UserError:
        return {}
    return arch.linear_shapes()


def _check_rank_fits(
    params_model: type[AdapterParams], entry: AdapterEntry, shapes: dict[str, tuple[int, int]], loc: Loc
) -> list[tuple[Loc, str]]:
    """A low-rank adapter's rank cannot exceed min(out, in) of a matrix it adapts."""
    field = params_model.rank_field
    if field is None:
        return []
    try:
        params = params_model.model_validate(entry.params())
    except ValidationError:
        return []  # reported by _check_component
    rank = getattr(params, field)
    targets = params.target_modules or list(BLOCK_LINEARS)
    fitting = {name: shapes[name] for name in targets if name in shapes}
    if not fitting:
        return []
    name, (out, inp) = min(fitting.items(), key=lambda item: min(item[1]))
    if rank <= min(out, inp):
        return []
    return [
        (
            (*loc, field),
            f"{field} {rank} exceeds the rank of {name} ({out} x {inp}) in this model; "
            f"use {field} <= {min(out, inp)}",
        )
    ]


def _check_required_runs(spec: SuiteSpec, index: int) -> list[tuple[Loc, str]]:
    """A run that needs another method's run (e.g. rl_delta needs full) needs it in the suite."""
    entry = spec.adapters[index]
    needs = ADAPTERS.get(entry.name).Params.model_validate(entry.params()).required_runs()
    names = {other.name for other in spec.adapters}
    return [
        (("adapters", index), f"{role} needs a {name!r} run of the same seeds; add {{name: {name}, lr: ...}}")
        for role, name in needs.items()
        if name not in names
    ]


def _check_component(registry: Any, entry: ComponentEntry, loc: Loc) -> list[tuple[Loc, str]]:
    if entry.name not in registry:
        hint = did_you_mean(entry.name, registry.names())
        return [
            ((*loc, "name"), f"unknown {registry.kind} {entry.name!r}{hint}; see `prb list {registry.kind}s`")
        ]
    params_model = registry.get(entry.name).Params
    try:
        params_model.model_validate(entry.params())
    except ValidationError as exc:
        return [((*loc, *err_loc), msg) for err_loc, msg in (describe(e, params_model) for e in exc.errors())]
    if registry is RECIPES:
        return [((*loc, "trl", field), msg) for field, msg in check_trl(entry.name, entry.params())]
    return []


def describe(err: Any, model: type[BaseModel]) -> tuple[Loc, str]:
    loc: Loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        allowed = _field_names_at(model, loc[:-1])
        return loc, f"unknown field{did_you_mean(str(loc[-1]), allowed)}; allowed: {', '.join(allowed)}"
    if err["type"] == "missing":
        return loc, "required field is missing; add it"
    return loc, f"{err['msg']} (got {err.get('input')!r})"


def _field_names_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The allowed field names of the (nested) model at ``loc``, for suggestions."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return sorted(getattr(current, "model_fields", {}))
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if current is None:
            return []
    return sorted(current.model_fields)


def line_of(node: yaml.Node | None, loc: Loc) -> int:
    """The 1-based line of the deepest YAML node that ``loc`` reaches."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
