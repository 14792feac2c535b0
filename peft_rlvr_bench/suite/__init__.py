"""Suites: declarative YAML files validated into typed specs and expanded into RunSpecs.

- ``spec``: the schema (suite, model, eval, budget, ...) and the resolved runs;
- ``identity``: what a run id covers, and the one table of settings added later;
- ``checks``: validation against the registries and the model, located by YAML line;
- ``expand``: the grid of runs and derived runs;
- ``load``: reading a suite file into a ``Suite``, every problem one ``UserError`` line.
"""

from peft_rlvr_bench.suite.expand import expand, expand_derived
from peft_rlvr_bench.suite.load import load_suite, resolve_suite_path
from peft_rlvr_bench.suite.spec import (
    MAX_SEED,
    SHARDED_STRATEGIES,
    TINY_MODEL,
    AdapterEntry,
    Budget,
    CheckpointSpec,
    ComponentEntry,
    DerivedRun,
    EvalSpec,
    ExtrapolationEntry,
    GenerationSpec,
    LaunchSpec,
    ModelSpec,
    ResolvedAdapter,
    ResolvedComponent,
    RunSpec,
    SamplingSpec,
    Suite,
    SuiteSpec,
    TrackingSpec,
    TrajectorySpec,
    is_safe_name,
)

__all__ = [
    "MAX_SEED",
    "SHARDED_STRATEGIES",
    "TINY_MODEL",
    "AdapterEntry",
    "Budget",
    "CheckpointSpec",
    "ComponentEntry",
    "DerivedRun",
    "EvalSpec",
    "ExtrapolationEntry",
    "GenerationSpec",
    "LaunchSpec",
    "ModelSpec",
    "ResolvedAdapter",
    "ResolvedComponent",
    "RunSpec",
    "SamplingSpec",
    "Suite",
    "SuiteSpec",
    "TrackingSpec",
    "TrajectorySpec",
    "expand",
    "expand_derived",
    "is_safe_name",
    "load_suite",
    "resolve_suite_path",
]
