"""Suites: declarative YAML files validated into typed specs and expanded into RunSpecs.

- ``grid``: the shape of a sweep (an entry's list-valued fields);
- ``spec``: the schema (suite, model, eval, budget, ...) and the resolved runs;
- ``identity``: what a run id covers, and the one table of settings added later;
- ``checks``: validation against the registries and the model, located by YAML line;
- ``expand``: the grid of runs and derived runs;
- ``sweep``: list-valued fields, their grid points, and the selection stage's runs;
- ``load``: reading a suite file into a ``Suite``, every problem one ``UserError`` line;
- ``locate``: finding a suite by name from any directory (``./suites``, then the shipped ones).
"""

from peft_rlvr_bench.suite.eval_spec import SamplingSpec
from peft_rlvr_bench.suite.expand import expand, expand_derived
from peft_rlvr_bench.suite.grid import Axis, EntrySweep
from peft_rlvr_bench.suite.load import load_suite, with_choice
from peft_rlvr_bench.suite.locate import find_suite, known_suites, resolve_suite_path, suite_dirs
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
    SelectSpec,
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
    "Axis",
    "Budget",
    "CheckpointSpec",
    "ComponentEntry",
    "DerivedRun",
    "EntrySweep",
    "EvalSpec",
    "ExtrapolationEntry",
    "GenerationSpec",
    "LaunchSpec",
    "ModelSpec",
    "ResolvedAdapter",
    "ResolvedComponent",
    "RunSpec",
    "SamplingSpec",
    "SelectSpec",
    "Suite",
    "SuiteSpec",
    "TrackingSpec",
    "TrajectorySpec",
    "expand",
    "expand_derived",
    "find_suite",
    "is_safe_name",
    "known_suites",
    "load_suite",
    "resolve_suite_path",
    "suite_dirs",
    "with_choice",
]
