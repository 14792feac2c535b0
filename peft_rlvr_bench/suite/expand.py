"""Grid expansion: a validated suite into its RunSpecs (adapter entries x seeds, every default
resolved, dependencies named) and its derived runs (extrapolation entries x trained runs)."""

from __future__ import annotations

from typing import Literal

from peft_rlvr_bench.registry import ADAPTERS, EXTRAPOLATORS, RECIPES
from peft_rlvr_bench.suite.spec import (
    ComponentEntry,
    DerivedRun,
    ResolvedAdapter,
    ResolvedComponent,
    RunSpec,
    SuiteSpec,
)

DENSE_WINDOW_METHODS = ("relex",)
"""Extrapolators fitted on every update of their observation window: RELEX's authors record each
step up to their window (75 updates), and a rank-1 fit on three records every 20 updates is a
different method. Their source runs record densely up to ``observe``, the others keep ``every``."""


def recorded_densely_until(spec: SuiteSpec, label: str) -> int | None:
    """The update up to which runs of adapter entry ``label`` record every update: the suite's
    ``trajectory.dense_until``, else the largest ``observe`` of a dense-window extrapolation
    that applies to the entry."""
    if spec.trajectory is None or spec.trajectory.dense_until is not None:
        return None if spec.trajectory is None else spec.trajectory.dense_until
    windows = [
        entry.observe
        for entry in spec.extrapolation
        if entry.name in DENSE_WINDOW_METHODS and (entry.applies_to is None or label in entry.applies_to)
    ]
    return max(windows, default=None)


def expand(spec: SuiteSpec, eval_split: Literal["eval", "validation"] = "eval") -> list[RunSpec]:
    """The suite's grid: every adapter entry times every seed, with parameters resolved.
    ``eval_split="validation"`` makes selection candidates (``suite/sweep.py``).

    Runs that need another run's result (sparse ``rl_delta`` masks need a finished ``full`` run of
    the same seed) name it in ``dependencies`` and come after it; the dependency's id is part of
    their resolved spec, so their id changes whenever the run they build on changes.
    """
    independent: list[RunSpec] = []
    dependent: list[tuple[RunSpec, dict[str, str]]] = []
    for entry in spec.adapters:
        resolved_recipe = resolve_recipe(entry.recipe or spec.recipe)
        params = ADAPTERS.get(entry.name).Params.model_validate(entry.params())
        resolved = ResolvedAdapter(
            name=entry.name,
            label=entry.display_name,
            lr=entry.lr,
            params=params.model_dump(mode="json"),
            intervention=entry.intervention,
            control=entry.control,
        )
        for seed in entry.seeds or spec.seeds:
            run = RunSpec(
                suite=spec.name,
                model=spec.model,
                train_task=spec.train_task,
                eval=spec.eval,
                recipe=resolved_recipe,
                adapter=resolved,
                seed=seed,
                budget=spec.budget,
                trajectory=None
                if spec.trajectory is None
                else spec.trajectory.model_copy(
                    update={"dense_until": recorded_densely_until(spec, entry.display_name)}
                ),
                checkpoint=spec.checkpoint,
                data=spec.data,
                generation=spec.generation,
                eval_split=eval_split,
                tracking=spec.tracking,
            )
            needs = params.required_runs()
            if needs:
                dependent.append((run, needs))
            else:
                independent.append(run)
    resolved_dependent = []
    for run, needs in dependent:
        ids = {}
        for role, adapter_name in needs.items():
            provider = next(r for r in independent if r.adapter.name == adapter_name and r.seed == run.seed)
            ids[role] = provider.run_id
        resolved_dependent.append(run.model_copy(update={"dependencies": ids}))
    return independent + resolved_dependent


def resolve_recipe(entry: ComponentEntry) -> ResolvedComponent:
    recipe = RECIPES.get(entry.name)
    params = recipe.Params.model_validate(entry.params()).model_dump(mode="json")
    return ResolvedComponent(name=entry.name, params=params)


def expand_derived(spec: SuiteSpec, runs: list[RunSpec]) -> list[DerivedRun]:
    """One derived run per trained run and extrapolation entry, parameters resolved."""
    derived = []
    for entry in spec.extrapolation:
        params = EXTRAPOLATORS.get(entry.name).Params.model_validate(entry.params()).model_dump(mode="json")
        for run in runs:
            if entry.applies_to is not None and run.adapter.label not in entry.applies_to:
                continue
            derived.append(
                DerivedRun(
                    source=run,
                    method=entry.name,
                    params=params,
                    observe=entry.observe,
                    target=entry.target,
                    label=entry.display_name,
                )
            )
    return derived
