"""Sweeps: list-valued fields of adapter entries, their grid, and the selection stage's runs.

A number field given as a list (``lr: [1e-4, 3e-4]``, ``r: [4, 8]``, a recipe's ``beta: [0, 0.01]``;
in the suite's ``recipe`` it sweeps every entry that has no recipe of its own) makes its entry a
grid: the product of its lists, in the order written. A field whose own type is a list
(``target_modules``) is never a sweep.

Without ``select:`` every grid point is an entry of its own, labelled ``<label>-<field><value>``
(``lora-lr3e-4``). With ``select:`` the points are candidates of a selection stage: each trains on
the selection seeds and is scored on validation items (drawn from the train split, never an eval
item); the comparison then runs each entry once, at its chosen point, under its own label.

Everything here works on the suite's YAML data (plain dicts), before and after validation.
"""

from __future__ import annotations

import copy
import itertools
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from peft_rlvr_bench.registry import ADAPTERS, RECIPES
from peft_rlvr_bench.suite.grid import Axis, EntrySweep
from peft_rlvr_bench.suite.spec import SuiteSpec

Point = dict[str, Any]
"""A grid point: ``{"lr": 3e-4, "recipe.beta": 0.01}``, keys the axes' dotted paths."""

ENTRY_FIELDS_NEVER_SWEPT = ("name", "label", "recipe", "intervention", "seeds", "control")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_number(v) for v in value)


def _is_sequence_type(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_sequence_type(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return any(_is_sequence_type(arg) for arg in get_args(annotation))
    if origin is not None:
        annotation = origin
    return isinstance(annotation, type) and issubclass(annotation, list | tuple | set | frozenset)


def _takes_a_list(params: type[BaseModel] | None, field: str) -> bool:
    """Whether ``field`` of a component's parameter model is itself a list (so not a sweep)."""
    info = None if params is None else params.model_fields.get(field)
    return info is not None and _is_sequence_type(info.annotation)


def _params_model(registry: Any, name: Any) -> type[BaseModel] | None:
    return registry.get(name).Params if isinstance(name, str) and name in registry else None


def _recipe_axes(recipe: Any) -> list[Axis]:
    if not isinstance(recipe, Mapping):
        return []
    params = _params_model(RECIPES, recipe.get("name"))
    return [
        Axis(path=("recipe", key), values=list(value))
        for key, value in recipe.items()
        if key != "name" and _numbers(value) and not _takes_a_list(params, key)
    ]


def find_sweeps(data: Mapping[str, Any]) -> list[EntrySweep]:
    """Every adapter entry of the suite's data with list-valued number fields, and its axes."""
    suite_axes = _recipe_axes(data.get("recipe"))
    sweeps = []
    adapters = data.get("adapters")
    for index, entry in enumerate(adapters if isinstance(adapters, list) else []):
        if not isinstance(entry, Mapping):
            continue
        params = _params_model(ADAPTERS, entry.get("name"))
        axes = [
            Axis(path=(key,), values=list(value))
            for key, value in entry.items()
            if key not in ENTRY_FIELDS_NEVER_SWEPT
            and _numbers(value)
            and (key == "lr" or not _takes_a_list(params, key))
        ]
        own = entry.get("recipe")
        axes += _recipe_axes(own) if own is not None else suite_axes
        if axes:
            label = entry.get("label") or entry.get("name")
            sweeps.append(EntrySweep(index=index, label=str(label), axes=axes))
    return sweeps


def points(sweep: EntrySweep) -> list[Point]:
    """The entry's grid points: the product of its axes, the first axis slowest."""
    keys = [".".join(axis.path) for axis in sweep.axes]
    return [
        dict(zip(keys, values, strict=True)) for values in itertools.product(*(a.values for a in sweep.axes))
    ]


def _short(value: Any) -> str:
    """``3e-4`` for 0.0003, ``8`` for 8, ``0.5`` for 0.5: a label-safe, readable number."""
    if isinstance(value, float) and value != 0 and abs(value) < 0.1:
        mantissa, exponent = f"{value:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:g}"


def point_label(label: str, point: Point) -> str:
    """``lora-lr3e-4-r8``: the entry's label and the point's values, in axis order."""
    return "-".join([label, *(f"{key.split('.')[-1]}{_short(value)}" for key, value in point.items())])


def _scalar_suite_recipe(data: Mapping[str, Any]) -> Any:
    """The suite's recipe with each swept list at its first value: entries without a recipe of
    their own get the point's values explicitly, so this one only has to validate."""
    recipe = data.get("recipe")
    if not isinstance(recipe, Mapping):
        return recipe
    return {**recipe, **{axis.path[1]: axis.values[0] for axis in _recipe_axes(recipe)}}


def entry_at(data: Mapping[str, Any], index: int, point: Point, label: str | None = None) -> dict[str, Any]:
    """Adapter entry ``index`` with its swept fields at ``point`` (and ``label``, if given)."""
    entry = copy.deepcopy(dict(data["adapters"][index]))
    recipe_values = {key[len("recipe.") :]: v for key, v in point.items() if key.startswith("recipe.")}
    if recipe_values:
        base = entry.get("recipe") if entry.get("recipe") is not None else data["recipe"]
        entry["recipe"] = {**base, **recipe_values}
    entry.update({key: value for key, value in point.items() if not key.startswith("recipe.")})
    if label is not None:
        entry["label"] = label
    return entry


def expand_grid(data: Mapping[str, Any], sweeps: Sequence[EntrySweep]) -> tuple[dict[str, Any], list[int]]:
    """The data with every grid point an entry of its own (labelled by ``point_label``), and for
    each resulting entry the index of the entry it came from (errors are reported there)."""
    by_index = {sweep.index: sweep for sweep in sweeps}
    adapters, origin = [], []
    labels: dict[str, list[str]] = {}
    for index, entry in enumerate(data["adapters"]):
        sweep = by_index.get(index)
        if sweep is None:
            adapters.append(entry)
            origin.append(index)
            continue
        for point in points(sweep):
            label = point_label(sweep.label, point)
            adapters.append(entry_at(data, index, point, label))
            origin.append(index)
            labels.setdefault(sweep.label, []).append(label)
    grid = {**data, "recipe": _scalar_suite_recipe(data), "adapters": adapters}
    if isinstance(data.get("extrapolation"), list):  # applies_to: [lora] means every lora point
        grid["extrapolation"] = [_applies_to_points(entry, labels) for entry in data["extrapolation"]]
    return grid, origin


def _applies_to_points(entry: Any, labels: Mapping[str, list[str]]) -> Any:
    names = entry.get("applies_to") if isinstance(entry, Mapping) else None
    if not isinstance(names, list):
        return entry
    return {**entry, "applies_to": [point for name in names for point in labels.get(name, [name])]}


def at_points(
    data: Mapping[str, Any], sweeps: Sequence[EntrySweep], chosen: Mapping[int, Point]
) -> dict[str, Any]:
    """The data with each swept entry at its ``chosen`` point (the first point where none is
    chosen), under the entry's own label: the comparison stage's suite."""
    by_index = {sweep.index: sweep for sweep in sweeps}
    adapters = [
        entry_at(data, index, chosen.get(index) or points(by_index[index])[0]) if index in by_index else entry
        for index, entry in enumerate(data["adapters"])
    ]
    return {**data, "recipe": _scalar_suite_recipe(data), "adapters": adapters}


def _provider_index(data: Mapping[str, Any], adapter_name: str) -> int:
    """The entry another entry's run builds on: the first with that adapter (as ``expand`` does)."""
    return next(i for i, entry in enumerate(data["adapters"]) if entry.get("name") == adapter_name)


def selection_round(
    spec: SuiteSpec, data: Mapping[str, Any], sweeps: Sequence[EntrySweep], chosen: Mapping[int, Point]
) -> tuple[SuiteSpec, dict[str, tuple[int, Point]]] | None:
    """The next round of the selection stage, or None when every swept entry has its choice.

    A round holds the candidates of every unchosen entry whose runs need no other swept entry's
    choice first: an ``rl_delta`` mask is built from the ``full`` run at ``full``'s chosen rate,
    so sparse ``rl_delta`` candidates wait a round. Entries that candidates need come first, at
    their chosen (or only) point. Returns the round's suite (candidates on the selection seeds
    and budget, scored on the ``select.metric`` tasks only) and ``{candidate label: (entry,
    point)}``.
    """
    select = spec.select
    assert select is not None
    by_index = {sweep.index: sweep for sweep in sweeps}
    providers: dict[int, None] = {}
    ready = []
    for sweep in sweeps:
        if sweep.index in chosen:
            continue
        needs = _required_providers(spec, data, sweep.index)
        if all(p not in by_index or p in chosen for p in needs):
            ready.append(sweep)
            providers.update(dict.fromkeys(needs))
    if not ready:
        return None
    entries = []
    for index in providers:  # at their chosen point, labelled as that point's candidate was
        sweep = by_index.get(index)
        entries.append(
            data["adapters"][index]
            if sweep is None
            else entry_at(data, index, chosen[index], point_label(sweep.label, chosen[index]))
        )
    candidates: dict[str, tuple[int, Point]] = {}
    for sweep in ready:
        for point in points(sweep):
            label = point_label(sweep.label, point)
            entries.append(entry_at(data, sweep.index, point, label))
            candidates[label] = (sweep.index, point)
    evaluation = spec.eval
    stage = {
        **data,
        "recipe": _scalar_suite_recipe(data),
        "adapters": entries,
        "seeds": list(select.seeds),
        "budget": (select.budget or spec.budget).model_dump(),
        "eval": {
            "in_domain": list(evaluation.roles()[select.metric]),
            "n_items": select.items,
            "batch_size": evaluation.batch_size,
            "max_new_tokens": evaluation.max_new_tokens,
            "kl_items": 0,
            "loss_items": 0,
            "keep_samples": False,
        },
        "trajectory": None,
        "extrapolation": [],
        "select": None,
    }
    return SuiteSpec.model_validate(stage), candidates


def _required_providers(spec: SuiteSpec, data: Mapping[str, Any], index: int) -> list[int]:
    entry = spec.adapters[index]
    needs = ADAPTERS.get(entry.name).Params.model_validate(entry.params()).required_runs()
    return [_provider_index(data, name) for name in needs.values()]


def check_select(spec: SuiteSpec, sweeps: Sequence[EntrySweep]) -> list[tuple[tuple[str | int, ...], str]]:
    """Problems of a ``select:`` section as (location, message): nothing to choose, selection
    seeds that the comparison also uses, a metric without tasks or without items to validate on."""
    from peft_rlvr_bench.registry import TASKS

    select = spec.select
    if select is None:
        return []
    errors: list[tuple[tuple[str | int, ...], str]] = []
    if not sweeps:
        errors.append(
            (
                ("select",),
                "no adapter entry lists values to choose from; give one, e.g. "
                "lr: [1.0e-4, 3.0e-4], or remove select",
            )
        )
    shared = sorted(set(select.seeds) & set(spec.seeds))
    if shared:
        errors.append(
            (
                ("select", "seeds"),
                f"seed(s) {', '.join(map(str, shared))} are also comparison seeds; choose selection "
                "seeds the comparison never uses",
            )
        )
    tasks = spec.eval.roles()[select.metric]
    if not tasks:
        errors.append(
            (("select", "metric"), f"eval.{select.metric} lists no tasks; pick a role that has some")
        )
    for task in tasks:
        if task in TASKS and "train" not in TASKS.get(task).splits:
            errors.append(
                (
                    ("select", "metric"),
                    f"task {task!r} has no train split to draw selection items from; use in_domain",
                )
            )
    if spec.launch is not None and spec.launch.processes > 1:
        errors.append((("select",), "the selection stage does not run under launch yet; remove one of them"))
    return errors
