"""Suites: declarative YAML files validated into typed specs and expanded into RunSpecs.

A suite names every component by its registered short name plus parameters, never by import
path, so moving a module never changes a result's identity. Each component validates its own
parameters with its own pydantic model; this module stitches their errors back to the YAML line
they came from, so ``prb validate`` says ``file:line: field: message (did you mean X?)``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from peft_rlvr_bench.adapters import AdapterParams
from peft_rlvr_bench.architecture import BLOCK_LINEARS
from peft_rlvr_bench.backends import GenerationSpec
from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.registry import ADAPTERS, EXTRAPOLATORS, RECIPES, TASKS, did_you_mean
from peft_rlvr_bench.rlvr.interventions import Rank1SubstitutionSpec
from peft_rlvr_bench.tasks.data import TEMPLATES, DataSpec
from peft_rlvr_bench.world.recipe import WorldRecipe

TINY_MODEL = "tiny"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")  # \Z: "$" would let a trailing newline in


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(Strict):
    """The base model: ``tiny`` (the embedded world), or a Hugging Face id, optionally at ``path``."""

    name: str = TINY_MODEL
    path: str | None = Field(None, description="load from this local directory instead of the hub")
    world: WorldRecipe | None = Field(None, description="the tiny world's recipe (tiny only)")
    trust_remote_code: bool = Field(
        False, description="run the model repository's own Python code; off unless the suite sets it"
    )

    @model_serializer(mode="wrap")
    def _omit_default_trust(self, handler: Any) -> dict[str, Any]:
        # Off is the default and is left out of every dump, so run ids and base specs written
        # before the field existed stay the same; on, it is part of the identity and the result.
        data = handler(self)
        if not self.trust_remote_code:
            data.pop("trust_remote_code", None)
        return data

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


class SamplingSpec(Strict):
    """Sampled accuracy next to the greedy one: ``k`` samples per item give avg@k and pass@k."""

    k: int = Field(ge=1, description="samples per item")
    temperature: float = Field(1.0, description="sampling temperature (> 0)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass")
    seed: int = Field(0, ge=0, description="torch seed of the sampler: the same seed, the same samples")
    roles: list[Literal["in_domain", "out_of_domain", "forgetting"]] = Field(
        default_factory=lambda: ["in_domain"],
        min_length=1,
        description="roles whose tasks are sampled; each costs about k greedy evaluations",
    )

    @field_validator("temperature")
    @classmethod
    def _positive_temperature(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("temperature must be > 0; greedy accuracy is always reported, drop `sampling`")
        return value


class EvalSpec(Strict):
    """Which tasks score which role, how many greedy items each, and the depth measures."""

    in_domain: list[str] = Field(min_length=1)
    out_of_domain: list[str] = Field(default_factory=list)
    forgetting: list[str] = Field(default_factory=list)
    n_items: int | Literal["all"] = Field(
        500, description="held-out items per task, or `all` for each task's whole eval split"
    )
    task_items: dict[str, int] = Field(
        default_factory=dict, description="items of these tasks instead of n_items, e.g. {mmlu: 1000}"
    )
    batch_size: int = Field(256, gt=0)
    max_new_tokens: int = Field(8, gt=0)
    sampling: SamplingSpec | None = Field(
        None, description="avg@k and pass@k on every task, e.g. {k: 8, temperature: 0.6, top_p: 0.95}"
    )
    kl_items: int = Field(
        64, ge=0, description="in-domain prompts per task for the KL to the base (pool-capped); 0 skips"
    )
    loss_items: int = Field(
        128, ge=0, description="items per forgetting task for the answer NLL (capped by the pool); 0 skips"
    )
    keep_samples: bool = Field(
        True,
        description="write what the model answered on each item to results/<suite>/samples/<run_id>.jsonl.gz",
    )

    @field_validator("n_items")
    @classmethod
    def _positive_items(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value <= 0:
            raise ValueError("must be > 0, or `all`")
        return value

    @field_validator("task_items")
    @classmethod
    def _positive_task_items(cls, value: dict[str, int]) -> dict[str, int]:
        for task, count in value.items():
            if count <= 0:
                raise ValueError(f"{task}: must be > 0")
        return value

    def items_for(self, task: str) -> int | Literal["all"]:
        """How many eval items ``task`` gets: its ``task_items`` entry, else ``n_items``."""
        return self.task_items.get(task, self.n_items)

    def roles(self) -> dict[str, list[str]]:
        return {
            "in_domain": self.in_domain,
            "out_of_domain": self.out_of_domain,
            "forgetting": self.forgetting,
        }

    def identity(self) -> dict[str, Any]:
        """The settings as JSON, less the ones added after run ids were first published while
        they hold their defaults: those runs keep their ids (and base results stay current).
        Never ``keep_samples``: whether the answers are stored changes no score."""
        identity = self.model_dump(mode="json", exclude={"keep_samples"})
        for name, default in _EVAL_FIELDS_ADDED_LATER.items():
            if identity[name] == default:
                del identity[name]
        return identity


_EVAL_FIELDS_ADDED_LATER = {"sampling": None, "kl_items": 64, "loss_items": 128, "task_items": {}}


class Budget(Strict):
    max_steps: int = Field(gt=0, description="optimizer updates per run")


class TrajectorySpec(Strict):
    """Record each run's trainable state every ``every`` updates (for curves and extrapolation)."""

    every: int = Field(gt=0, description="optimizer updates between records; update 0 is always recorded")
    keep: bool = Field(
        True, description="keep the records after the run's result is written (extrapolation needs them)"
    )


class CheckpointSpec(Strict):
    """Trainer checkpoints every ``every`` updates, so a killed run resumes instead of restarting."""

    every: int = Field(gt=0, description="optimizer updates between trainer checkpoints")
    keep: int = Field(2, gt=0, description="newest trainer checkpoints kept on disk")


SHARDED_STRATEGIES = ("zero3", "fsdp")
"""Strategies that shard the parameters themselves: no process holds a whole weight while training."""


class LaunchSpec(Strict):
    """One run across several processes (GPUs) through ``accelerate launch`` (docs/scale-out.md).

    Not part of any run id: the recipe's update (prompts per step, group size, learning rate) is
    the same for any process count, since each process gets its share of the batch. Like the
    device and its precision, the launch changes numerics (reduction order, per-process sampling
    streams, ZeRO's bf16 weights), not the experiment; each result records how it ran.
    """

    processes: int = Field(1, ge=1, description="processes per trained run, one per GPU (1: no launcher)")
    strategy: Literal["ddp", "zero2", "zero3", "fsdp"] = Field(
        "ddp", description="ddp, zero2 (DeepSpeed ZeRO-2), zero3 (DeepSpeed ZeRO-3) or fsdp"
    )


class ComponentEntry(BaseModel):
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


MAX_SEED = 2**32 - 1
"""The largest run seed: ``transformers.set_seed`` seeds numpy, whose seeds are 32-bit unsigned."""


def _check_seed(value: Any) -> int:
    # Before pydantic's int coercion, which would take True as 1 and 2.0 as 2.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise PydanticCustomError(
            "seed",
            "not a seed; use whole numbers from 0 to {limit}, e.g. seeds: [0, 1, 2]",
            {"limit": MAX_SEED},
        )
    return value


Seed = Annotated[int, BeforeValidator(_check_seed)]


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

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not _SAFE_NAME.match(value):
            raise ValueError("use letters, digits, '.', '_' and '-' only; it names a results folder")
        return value

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

    def identity(self) -> dict[str, Any]:
        """What determines the run's outcome: not the suite name, which only files it, nor how
        often the trajectory is recorded or trainer checkpoints are saved, which observe training
        without changing it (a resumed run restores the RNG states and ends bitwise the same)."""
        identity = self.model_dump(mode="json", exclude={"suite", "trajectory", "checkpoint", "generation"})
        identity["eval"] = self.eval.identity()
        if self.data is None:  # runs without dataset tasks keep the ids they had before it existed
            del identity["data"]
        if self.adapter.intervention is None:  # runs without one keep the ids they had before it existed
            del identity["adapter"]["intervention"]
        return identity

    @property
    def run_id(self) -> str:
        digest = hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.adapter.label}-s{self.seed}-{digest}"


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
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.source.adapter.label}+{self.label}-s{self.source.seed}-{digest}"

    @property
    def display_name(self) -> str:
        return f"{self.source.adapter.label}+{self.label}@{self.observe}"


class Suite(Strict):
    spec: SuiteSpec
    path: Path
    runs: list[RunSpec]
    derived: list[DerivedRun] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Loading and error reporting


def is_safe_name(name: str) -> bool:
    """A name that can be a single path component under ``results/`` or ``outputs/``."""
    return bool(_SAFE_NAME.match(name))


def load_suite(path: str | Path, overrides: Sequence[str] = ()) -> Suite:
    """Reads, validates and expands a suite file; any problem is one ``UserError`` line.

    ``overrides`` are ``--set PATH=VALUE`` strings applied before validation (``overrides.py``)."""
    from peft_rlvr_bench.overrides import apply_overrides, override_for

    path = Path(path)
    text = _read_text(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f"{mark.line + 1}" if mark else "1"
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{path}:{line}: not valid YAML: {problem}; fix the syntax") from None
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}"
        raise UserError(f"{path}:1: a suite must be a YAML mapping (name, model, ...); this file is {what}")
    data = apply_overrides(data, overrides)
    errors = _validate(data)
    if errors:
        loc, message = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        field = ".".join(str(p) for p in loc) or "<root>"
        cause = override_for(loc, overrides)
        where = f"--set {cause}" if cause else f"{path}:{_line_of(root, loc)}"
        raise UserError(f"{where}: {field}: {message}{more}")
    spec = SuiteSpec.model_validate(data)
    runs = expand(spec)
    return Suite(spec=spec, path=path, runs=runs, derived=expand_derived(spec, runs))


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise UserError(f"{path}: no such suite file; check the path or run `prb list suites`")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None


Loc = tuple[str | int, ...]


def _validate(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    """Every problem as (location, message), top-level schema first, then components."""
    try:
        spec = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        return [_describe(err, SuiteSpec) for err in exc.errors()]
    errors: list[tuple[Loc, str]] = []
    errors += _check_task(spec.train_task, ("train_task",), "train")
    for role, names in spec.eval.roles().items():
        for i, name in enumerate(names):
            errors += _check_task(name, ("eval", role, i), "eval")
    errors += _check_eval_pool_sizes(spec.eval)
    errors += _check_data(spec)
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
        if not _SAFE_NAME.match(entry.display_name):
            errors.append(
                (
                    ("adapters", i, "label"),
                    "use letters, digits, '.', '_' and '-' only; it names result files",
                )
            )
    return errors


def _check_driven_window(spec: SuiteSpec, index: int) -> list[tuple[Loc, str]]:
    """A method that trains between predictions checks its window against the recording interval."""
    from peft_rlvr_bench.extrapolation import drives_training

    entry = spec.extrapolation[index]
    method = EXTRAPOLATORS.get(entry.name)
    if not drives_training(method) or spec.trajectory is None:
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
    for entry in [spec.recipe, *(a.recipe for a in spec.adapters if a.recipe is not None)]:
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


def _check_references(spec: SuiteSpec) -> list[tuple[Loc, str]]:
    """What names files or needs the model: safe labels, an existing model path, ranks that fit
    the model's matrices (when its config is at hand), trajectories kept for extrapolation."""
    errors: list[tuple[Loc, str]] = []
    for i, entry in enumerate(spec.extrapolation):
        if entry.label is not None and not _SAFE_NAME.match(entry.label):
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


def _matrix_shapes(model: ModelSpec) -> dict[str, tuple[int, int]]:
    """(out, in) of each block linear, when the model's architecture is knowable without a
    download (``architecture.py``); empty otherwise (loading reports the rest)."""
    from peft_rlvr_bench.architecture import resolve_architecture, world_architecture

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


def _check_task(name: str, loc: Loc, split: str = "eval") -> list[tuple[Loc, str]]:
    if name not in TASKS:
        return [(loc, f"unknown task {name!r}{did_you_mean(name, TASKS.names())}; see `prb list tasks`")]
    splits = TASKS.get(name).splits
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
        if name not in TASKS:
            hint = did_you_mean(name, TASKS.names())
            errors.append((("data", "sources", name), f"unknown task {name!r}{hint}; see `prb list tasks`"))
        elif not TASKS.get(name).from_datasets:
            errors.append((("data", "sources", name), f"task {name!r} is not read from a dataset; remove it"))
    evaluated = {task for names in spec.eval.roles().values() for task in names}
    for name in spec.eval.task_items:
        if name not in evaluated:
            hint = did_you_mean(name, sorted(evaluated))
            errors.append((("eval", "task_items", name), f"{name!r} is not an eval task of this suite{hint}"))
    return errors


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


def _check_eval_pool_sizes(spec: EvalSpec) -> list[tuple[Loc, str]]:
    """Each task's items (``task_items``, else ``n_items``; ``all`` always fits) fit its eval pool."""
    limits = {
        name: TASKS.get(name).max_eval_items
        for names in spec.roles().values()
        for name in names
        if name in TASKS and "eval" in TASKS.get(name).splits
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
        return [
            ((*loc, *err_loc), msg) for err_loc, msg in (_describe(e, params_model) for e in exc.errors())
        ]
    return []


def _describe(err: Any, model: type[BaseModel]) -> tuple[Loc, str]:
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


def _line_of(node: yaml.Node | None, loc: Loc) -> int:
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


# ---------------------------------------------------------------------------------------------
# Expansion


def expand(spec: SuiteSpec) -> list[RunSpec]:
    """The suite's grid: every adapter entry times every seed, with parameters resolved.

    Runs that need another run's result (sparse ``rl_delta`` masks need a finished ``full`` run of
    the same seed) name it in ``dependencies`` and come after it; the dependency's id is part of
    their resolved spec, so their id changes whenever the run they build on changes.
    """
    independent: list[RunSpec] = []
    dependent: list[tuple[RunSpec, dict[str, str]]] = []
    for entry in spec.adapters:
        resolved_recipe = _resolve_recipe(entry.recipe or spec.recipe)
        params = ADAPTERS.get(entry.name).Params.model_validate(entry.params())
        resolved = ResolvedAdapter(
            name=entry.name,
            label=entry.display_name,
            lr=entry.lr,
            params=params.model_dump(mode="json"),
            intervention=entry.intervention,
        )
        for seed in spec.seeds:
            run = RunSpec(
                suite=spec.name,
                model=spec.model,
                train_task=spec.train_task,
                eval=spec.eval,
                recipe=resolved_recipe,
                adapter=resolved,
                seed=seed,
                budget=spec.budget,
                trajectory=spec.trajectory,
                checkpoint=spec.checkpoint,
                data=spec.data,
                generation=spec.generation,
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


def _resolve_recipe(entry: ComponentEntry) -> ResolvedComponent:
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


def resolve_suite_path(name_or_path: str, suites_dir: Path = Path("suites")) -> Path:
    """``tiny`` -> ``suites/tiny.yaml``; an existing path is taken as it is."""
    candidate = Path(name_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        return candidate
    named = suites_dir / f"{name_or_path}.yaml"
    if named.exists():
        return named
    known = sorted(p.stem for p in suites_dir.glob("*.yaml"))
    raise UserError(f"{named}: no such suite{did_you_mean(name_or_path, known)}; known: {', '.join(known)}")
