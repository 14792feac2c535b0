"""The suite schema: the typed specs a suite YAML validates into, and the resolved runs it expands to.

A suite names every component by its registered short name plus parameters, never by import
path, so moving a module never changes a result's identity. Each component validates its own
parameters with its own pydantic model (``suite/checks.py`` reports their errors by YAML line).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from peft_rlvr_bench.backends import GenerationSpec
from peft_rlvr_bench.rlvr.interventions import Rank1SubstitutionSpec
from peft_rlvr_bench.schema import InputModel
from peft_rlvr_bench.suite.eval_spec import EvalSpec, Strict
from peft_rlvr_bench.suite.grid import EntrySweep
from peft_rlvr_bench.suite.identity import base_identity, digest, run_identity
from peft_rlvr_bench.tasks.data import DataSpec
from peft_rlvr_bench.world.recipe import WorldRecipe

TINY_MODEL = "tiny"
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")  # \Z: "$" would let a trailing newline in
"""A name that can be a single path component under ``results/`` or ``outputs/``."""


class ModelSpec(Strict):
    """The base model: ``tiny`` (the embedded world), or a Hugging Face id, optionally at ``path``."""

    name: str = TINY_MODEL
    path: str | None = Field(None, description="load from this local directory instead of the hub")
    world: WorldRecipe | None = Field(None, description="the tiny world's recipe (tiny only)")
    trust_remote_code: bool = Field(
        False, description="run the model repository's own Python code; off unless the suite sets it"
    )

    @model_validator(mode="before")
    @classmethod
    def _world_only_for_tiny(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        name = data.get("name", TINY_MODEL)
        if name == TINY_MODEL and data.get("world") is None:
            return {**data, "world": {}}
        if name != TINY_MODEL and data.get("world") is not None:
            raise ValueError("'world' applies only to the tiny model; remove it")
        return data


class Budget(Strict):
    max_steps: int = Field(gt=0, description="optimizer updates per run")


MAX_SEED = 2**32 - 1
"""The largest run seed: ``transformers.set_seed`` seeds numpy, whose seeds are 32-bit unsigned."""


def _seed_or_error(value: Any) -> int:
    # Before pydantic's int coercion, which would take True as 1 and 2.0 as 2.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise PydanticCustomError(
            "seed",
            "not a seed; use whole numbers from 0 to {limit}, e.g. seeds: [0, 1, 2]",
            {"limit": MAX_SEED},
        )
    return value


Seed = Annotated[int, BeforeValidator(_seed_or_error)]


class SelectSpec(Strict):
    """``select:``: pick each swept adapter entry's values on held-out selection runs first.

    Every adapter entry with list-valued fields (``lr: [1e-4, 3e-4]``) trains one candidate per
    grid point and selection seed, scored on validation items drawn from the train split (never
    an eval item); the comparison then runs each entry at its best point (``docs/suites.md``).
    """

    metric: Literal["in_domain", "out_of_domain"] = Field(
        "in_domain", description="the eval role whose tasks score the candidates, on validation items"
    )
    items: int = Field(200, gt=0, description="validation items per task (from the train split)")
    seeds: list[Seed] = Field(min_length=1, description="seeds of the candidate runs; none of `seeds`")
    budget: Budget | None = Field(None, description="the candidates' budget (default: the suite's)")

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("seeds repeat; list each seed once")
        return value


class TrajectorySpec(Strict):
    """Record each run's trainable state every ``every`` updates (for curves and extrapolation)."""

    every: int = Field(gt=0, description="optimizer updates between records; update 0 is always recorded")
    dense_until: int | None = Field(
        None,
        ge=0,
        description="also record every update up to this one; default: a RELEX source's observe window "
        "(suite/expand.py)",
    )
    keep: bool = Field(
        True, description="keep the records after the run's result is written (extrapolation needs them)"
    )


class CheckpointSpec(Strict):
    """Trainer checkpoints every ``every`` updates, so a killed run resumes instead of restarting."""

    every: int = Field(gt=0, description="optimizer updates between trainer checkpoints")
    keep: int = Field(2, gt=0, description="newest trainer checkpoints kept on disk")


class TrackingSpec(Strict):
    """Live tracking through TRL's ``report_to``; each run reports under its run id. Not part of
    any run id: it observes the run. The tracker's own settings (project, entity, directory) come
    from its environment variables, e.g. ``WANDB_PROJECT`` or ``TRACKIO_PROJECT``."""

    report_to: list[Literal["wandb", "trackio", "tensorboard"]] = Field(
        default_factory=list, description="trackers TRL logs every update to, e.g. [wandb]"
    )


SHARDED_STRATEGIES = ("zero3", "fsdp")
"""Strategies that shard the parameters themselves: no process holds a whole weight while training."""


class LaunchSpec(Strict):
    """One run across several processes (GPUs) through ``accelerate launch`` (``docs/scaling.md``).

    Not part of any run id: the recipe's update (prompts per step, group size, learning rate) is
    the same for any process count, since each process gets its share of the batch. Like the
    device and its precision, the launch changes numerics (reduction order, per-process sampling
    streams, ZeRO's bf16 weights), not the experiment; each result records how it ran.
    """

    processes: int = Field(1, ge=1, description="processes per trained run, one per GPU (1: no launcher)")
    strategy: Literal["ddp", "zero2", "zero3", "fsdp"] = Field(
        "ddp", description="ddp, zero2 (DeepSpeed ZeRO-2), zero3 (DeepSpeed ZeRO-3) or fsdp"
    )
    isolate: bool | None = Field(
        None,
        description="each run and the base evaluation in a process of its own; default: on a CUDA "
        "machine yes, on a CPU no (runner/isolate.py)",
    )


class ControlSpec(Strict):
    """Marks an adapter entry as a control of another entry (``docs/statistics.md``, Controls).

    ``negative``: the same configuration as ``against`` under another label, run on disjoint
    seeds; the harness must not separate the two. ``positive``: a configuration known to be worse
    than ``against``; the harness must separate it at the suite's seeds. Control arms are reported
    in their own table and stay out of the best-method comparison.
    """

    kind: Literal["negative", "positive"]
    against: str = Field(description="the label of the adapter entry this arm is a control of")


class ComponentEntry(InputModel):
    """``{name: ..., <params>}``: a registered component and its own parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class AdapterEntry(ComponentEntry):
    lr: float = Field(gt=0, description="learning rate; methods differ, so each entry sets its own")
    recipe: ComponentEntry | None = Field(
        None, description="this entry's recipe instead of the suite's, e.g. {name: sft} for an SFT control"
    )
    label: str | None = Field(None, description="row name in the leaderboard; defaults to the name")
    intervention: Rank1SubstitutionSpec | None = Field(
        None, description="an in-training intervention, e.g. {name: rank1_substitution, every: 10}"
    )
    seeds: list[Seed] | None = Field(
        None,
        description="this entry's seeds instead of the suite's, e.g. disjoint ones for a negative control",
    )
    control: ControlSpec | None = Field(
        None, description="this arm is a control of another entry: {kind: negative|positive, against: LABEL}"
    )

    @property
    def display_name(self) -> str:
        return self.label or self.name


class ExtrapolationEntry(ComponentEntry):
    """``{name: relex, observe: 15, target: 100, <params>}``: a derived run per trained run."""

    observe: int = Field(gt=0, description="updates of the trained run's trajectory the method may see")
    target: int = Field(gt=0, description="the update to predict (equal to observe: rebuild that point)")
    label: str | None = Field(None, description="row suffix in the leaderboard; defaults to the name")
    applies_to: list[str] | None = Field(
        None, description="labels of the adapter entries whose runs it derives from; default: all"
    )

    @model_validator(mode="after")
    def _target_not_before_window(self) -> ExtrapolationEntry:
        if self.target < self.observe:
            raise ValueError(
                f"target ({self.target}) must not come before the observation window ({self.observe})"
            )
        return self

    @property
    def display_name(self) -> str:
        return self.label or self.name


class SuiteSpec(Strict):
    name: str
    description: str = ""
    model: ModelSpec = Field(default_factory=ModelSpec)
    train_task: str
    eval: EvalSpec
    recipe: ComponentEntry
    adapters: list[AdapterEntry] = Field(min_length=1)
    seeds: list[Seed] = Field(min_length=1)
    budget: Budget
    trajectory: TrajectorySpec | None = None
    checkpoint: CheckpointSpec | None = Field(
        None, description="trainer checkpoints for resuming killed runs, e.g. {every: 50, keep: 2}"
    )
    extrapolation: list[ExtrapolationEntry] = Field(default_factory=list)
    launch: LaunchSpec | None = Field(
        None, description="train each run across processes: {processes: 8, strategy: zero3}"
    )
    data: DataSpec | None = Field(
        None, description="dataset tasks' prompt template and local sources: {template: ..., sources: {...}}"
    )
    generation: GenerationSpec | None = Field(
        None, description="rollout and eval generation backend: {backend: auto|transformers|vllm, ...}"
    )
    select: SelectSpec | None = Field(
        None, description="choose swept values on selection runs first: {items: 200, seeds: [100]}"
    )
    tracking: TrackingSpec | None = Field(
        None, description="live tracking of every run through TRL: {report_to: [wandb|trackio|tensorboard]}"
    )

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not SAFE_NAME.match(value):
            raise ValueError("use letters, digits, '.', '_' and '-' only; it names a results folder")
        return value

    def base_identity(self) -> dict[str, Any]:
        """What determines the base evaluation (``suite/identity.py``), recorded as its ``spec``."""
        return base_identity(self.model_dump(mode="json"))

    def recipe_entries(self) -> list[tuple[tuple[str | int, ...], ComponentEntry]]:
        """Every recipe entry the suite names, with where it stands: the suite's ``recipe``, then
        each adapter entry's own."""
        return [(("recipe",), self.recipe)] + [
            (("adapters", i, "recipe"), entry.recipe)
            for i, entry in enumerate(self.adapters)
            if entry.recipe is not None
        ]

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, value: list[int]) -> list[int]:
        repeated = sorted({seed for seed in value if value.count(seed) > 1})
        if repeated:
            raise ValueError(f"seeds repeat ({', '.join(map(str, repeated))}); list each seed once")
        return value


class ResolvedComponent(Strict):
    name: str
    params: dict[str, Any]


class ResolvedAdapter(ResolvedComponent):
    label: str
    lr: float
    intervention: Rank1SubstitutionSpec | None = None
    control: ControlSpec | None = None


class RunSpec(Strict):
    """One fully resolved run: every default filled in, so its hash names exactly what ran."""

    suite: str
    model: ModelSpec
    train_task: str
    eval: EvalSpec
    recipe: ResolvedComponent
    adapter: ResolvedAdapter
    seed: int
    budget: Budget
    dependencies: dict[str, str] = Field(
        default_factory=dict, description="{role: run_id} of runs that must finish first (e.g. rl_delta)"
    )
    trajectory: TrajectorySpec | None = None
    checkpoint: CheckpointSpec | None = None
    data: DataSpec | None = None
    generation: GenerationSpec | None = None
    eval_split: Literal["eval", "validation"] = Field(
        "eval", description="validation: a selection candidate, scored on items from the train split"
    )
    tracking: TrackingSpec | None = None

    def identity(self) -> dict[str, Any]:
        """What determines the run's outcome, as JSON (``suite/identity.py``): the resolved spec
        less what only files or observes the run, and the TRL config the spec decides."""
        return run_identity(self.model_dump(mode="json"))

    @property
    def run_id(self) -> str:
        """``<label>-s<seed>-<digest>``: the digest names the identity, the rest is for reading."""
        return f"{self.adapter.label}-s{self.seed}-{digest(self.identity())}"


class DerivedRun(Strict):
    """An extrapolated checkpoint of a trained run, evaluated like any run."""

    source: RunSpec
    method: str
    params: dict[str, Any]
    observe: int
    target: int
    label: str

    @property
    def run_id(self) -> str:
        identity = {"source": self.source.run_id, **self.model_dump(mode="json", exclude={"source", "label"})}
        return f"{self.source.adapter.label}+{self.label}-s{self.source.seed}-{digest(identity)}"

    @property
    def display_name(self) -> str:
        return f"{self.source.adapter.label}+{self.label}@{self.observe}"


class Suite(Strict):
    spec: SuiteSpec
    path: Path
    runs: list[RunSpec]
    derived: list[DerivedRun] = Field(default_factory=list)
    sweeps: list[EntrySweep] = Field(default_factory=list)
    source: dict[str, Any] = Field(
        default_factory=dict, description="the validated YAML data, lists kept: rebuilds grid points"
    )

    @property
    def awaits_selection(self) -> bool:
        """A ``select:`` suite whose comparison runs wait for the selection stage's choice."""
        return self.spec.select is not None and not self.runs


def is_safe_name(name: str) -> bool:
    """A name that can be a single path component under ``results/`` or ``outputs/``."""
    return bool(SAFE_NAME.match(name))
