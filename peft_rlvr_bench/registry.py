"""One generic registry for every kind of plugin: adapters, recipes, tasks, verifiers.

Built-ins are registered lazily as ``"module:attr"`` strings so that listing and validating a
suite imports no heavy library (torch, peft, trl). Third-party packages join through the
``peft_rlvr_bench.plugins`` entry-point group: loading an entry point only imports its module,
whose ``@register_*`` decorators then run.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any, Generic, TypeVar

from peft_rlvr_bench.errors import UserError

T = TypeVar("T")

PLUGIN_GROUP = "peft_rlvr_bench.plugins"


class Registry(Generic[T]):
    """Maps short names to components of one kind, with lazy built-ins and suggestions."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._loaded: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._families: dict[str, tuple[str, str]] = {}
        self._members: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        self._clashes: dict[str, list[str]] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``; a name can be taken only once.

        Outside plugin loading a second registration raises ``ValueError`` (a bug in this
        package). While a plugin package loads, it is recorded as a clash between the two
        packages instead, so that one package's mistake breaks only the name it took twice."""

        def decorator(obj: T) -> T:
            owner = _loading_package or _qualified(obj)
            earlier = self._owner_of(name)
            taken = (name in self._loaded and self._loaded[name] is not obj) or (
                name in self._lazy and self._lazy[name] != _qualified(obj)
            )
            if taken and _loading_package is not None:
                self._clashes.setdefault(name, [earlier]).append(owner)
                return obj
            if name in self._loaded and self._loaded[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            if name in self._lazy and self._lazy[name] != _qualified(obj):
                raise ValueError(f"{self.kind} {name!r} is already registered by {self._lazy[name]}")
            self._loaded[name] = obj
            self._owners[name] = owner
            return obj

        return decorator

    def register_lazy(self, name: str, target: str) -> None:
        """Registers a built-in by its ``"module:attr"`` path, imported on first use."""
        if name in self._lazy or name in self._loaded:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._lazy[name] = target

    def register_family(self, prefix: str, target: str, argument: str = "name") -> None:
        """Registers a parametrised family: ``prefix:ARG`` resolves to ``factory(ARG)``, where
        ``target`` is the factory's ``"module:attr"`` path, imported on first use; ``argument``
        says what ARG names (for listings). The factory raises ``UserError`` for an ARG it does
        not know, with a suggestion."""
        if prefix in self._families:
            raise ValueError(f"{self.kind} family {prefix!r} is already registered")
        self._families[prefix] = (target, argument)

    def families(self) -> list[str]:
        """The family patterns, e.g. ``rg:<dataset>``."""
        return [f"{prefix}:<{argument}>" for prefix, (_, argument) in sorted(self._families.items())]

    def _owner_of(self, name: str) -> str:
        if name in self._lazy:
            return f"{BUILTIN_PACKAGE} (built-in)"
        return self._owners.get(name, "an unknown package")

    def names(self) -> list[str]:
        """The plain names; family members (``prefix:ARG``) are not listed (``families``)."""
        load_plugins()
        return sorted(set(self._lazy) | set(self._loaded))

    def check_clashes(self) -> None:
        """A ``UserError`` naming both packages when two registered the same name (``prb list``)."""
        load_plugins()
        for name in sorted(self._clashes):
            self._raise_clash(name)

    def _raise_clash(self, name: str) -> None:
        owners = self._clashes[name]
        raise UserError(
            f"{self.kind} {name!r} is registered by both {owners[0]} and {owners[1]}; uninstall one "
            "of them or ask its authors to rename it"
        )

    def __contains__(self, name: object) -> bool:
        """A plain name, or a name in a family's form (whether its ARG exists, ``get`` tells)."""
        return isinstance(name, str) and (self._family_of(name) is not None or name in self.names())

    def _family_of(self, name: str) -> tuple[str, str] | None:
        prefix, colon, argument = name.partition(":")
        if colon and prefix in self._families and name not in self._lazy and name not in self._loaded:
            return self._families[prefix][0], argument
        return None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """Returns the component, importing a lazy built-in; unknown names suggest the closest."""
        load_plugins()
        if name in self._clashes:
            self._raise_clash(name)
        if name in self._loaded:
            return self._loaded[name]
        if name in self._lazy:
            module_name, attr = self._lazy[name].split(":")
            obj = getattr(importlib.import_module(module_name), attr)
            self._loaded[name] = obj
            return obj
        family = self._family_of(name)
        if family is not None:
            if name not in self._members:
                module_name, attr = family[0].split(":")
                self._members[name] = getattr(importlib.import_module(module_name), attr)(family[1])
            return self._members[name]
        known = self.names()
        failed = "".join(f"; {failure}" for failure in PLUGIN_FAILURES)
        raise UserError(
            f"unknown {self.kind} {name!r}{did_you_mean(name, known)}; known: {', '.join(known)}{failed}"
        )


def did_you_mean(name: str, known: list[str]) -> str:
    """`` (did you mean X?)`` for the closest known name, or an empty string."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _qualified(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}:{getattr(obj, '__qualname__', '')}"


_plugins_loaded = False
_loading_package: str | None = None
"""The distribution whose plugin module is being imported, to name it in a clash."""

BUILTIN_PACKAGE = "peft-rlvr-bench"

PLUGIN_FAILURES: list[str] = []
"""One line per plugin package that failed to import, e.g. ``plugin package X failed to import
(ImportError: ...)``; unknown-name errors repeat them."""


def load_plugins() -> None:
    """Imports every module declared in the plugin entry-point group, once per process.

    A module that fails to import is reported in one line on stderr (package and error) and
    skipped: every command that does not need its names keeps working."""
    global _plugins_loaded, _loading_package
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for entry_point in metadata.entry_points(group=PLUGIN_GROUP):
        package = entry_point.dist.name if entry_point.dist is not None else entry_point.value
        _loading_package = package
        try:
            entry_point.load()
        except (Exception, SystemExit) as exc:  # a plugin's own bug must not stop prb
            error = " ".join(f"{type(exc).__name__}: {exc}".split())
            failure = f"plugin package {package} ({entry_point.value}) failed to import ({error})"
            PLUGIN_FAILURES.append(failure)
            print(f"warning: {failure}; its components are unavailable", file=sys.stderr)
        finally:
            _loading_package = None


ADAPTERS: Registry[Any] = Registry("adapter")
RECIPES: Registry[Any] = Registry("recipe")
TASKS: Registry[Any] = Registry("task")
VERIFIERS: Registry[Any] = Registry("verifier")
EXTRAPOLATORS: Registry[Any] = Registry("extrapolator")

REGISTRIES: dict[str, Registry[Any]] = {
    "adapters": ADAPTERS,
    "recipes": RECIPES,
    "tasks": TASKS,
    "verifiers": VERIFIERS,
    "extrapolators": EXTRAPOLATORS,
}

register_adapter = ADAPTERS.register
register_recipe = RECIPES.register
register_task = TASKS.register
register_verifier = VERIFIERS.register
register_extrapolator = EXTRAPOLATORS.register

for _name, _target in {
    "full": "peft_rlvr_bench.adapters.full:FullFineTuning",
    "lora": "peft_rlvr_bench.adapters.lora:LoRA",
    "rslora": "peft_rlvr_bench.adapters.lora:RSLoRA",
    "dora": "peft_rlvr_bench.adapters.lora:DoRA",
    "lora_plus": "peft_rlvr_bench.adapters.lora:LoRAPlus",
    "lora_fa": "peft_rlvr_bench.adapters.lora:LoRAFA",
    "pissa": "peft_rlvr_bench.adapters.residual:PiSSA",
    "olora": "peft_rlvr_bench.adapters.residual:OLoRA",
    "milora": "peft_rlvr_bench.adapters.residual:MiLoRA",
    "geora": "peft_rlvr_bench.adapters.residual:GeoRA",
    "sparse": "peft_rlvr_bench.adapters.sparse:SparseFineTuning",
    "adalora": "peft_rlvr_bench.adapters.peft_family:AdaLoRA",
    "vera": "peft_rlvr_bench.adapters.peft_family:VeRA",
    "ia3": "peft_rlvr_bench.adapters.peft_family:IA3",
    "ln_tuning": "peft_rlvr_bench.adapters.peft_family:LNTuning",
    "miss": "peft_rlvr_bench.adapters.peft_family:MiSS",
}.items():
    ADAPTERS.register_lazy(_name, _target)

for _name, _target in {
    "grpo": "peft_rlvr_bench.rlvr.recipes:GRPO",
    "dr_grpo": "peft_rlvr_bench.rlvr.recipes:DrGRPO",
    "sft": "peft_rlvr_bench.rlvr.recipes:SFT",
    "dapo": "peft_rlvr_bench.rlvr.recipes:DAPO",
}.items():
    RECIPES.register_lazy(_name, _target)

for _name, _target in {
    "add": "peft_rlvr_bench.tasks.arithmetic:ADDITION",
    "add_words": "peft_rlvr_bench.tasks.arithmetic:ADDITION_IN_WORDS",
    "add_any": "peft_rlvr_bench.tasks.arithmetic:ADDITION_ANY",
    "add_any_words": "peft_rlvr_bench.tasks.arithmetic:ADDITION_ANY_IN_WORDS",
    "sub": "peft_rlvr_bench.tasks.arithmetic:SUBTRACTION",
    "copy": "peft_rlvr_bench.tasks.arithmetic:COPY",
    "max": "peft_rlvr_bench.tasks.arithmetic:MAXIMUM",
    # Read from Hugging Face datasets (peft_rlvr_bench/tasks/hf_datasets.py): train, eval, or both.
    "math_train": "peft_rlvr_bench.tasks.hf_datasets:MATH_TRAIN",
    "deepscaler": "peft_rlvr_bench.tasks.hf_datasets:DEEPSCALER",
    "gsm8k": "peft_rlvr_bench.tasks.hf_datasets:GSM8K",
    "math500": "peft_rlvr_bench.tasks.hf_datasets:MATH500",
    "aime24": "peft_rlvr_bench.tasks.hf_datasets:AIME24",
    "amc23": "peft_rlvr_bench.tasks.hf_datasets:AMC23",
    "gpqa_diamond": "peft_rlvr_bench.tasks.hf_datasets:GPQA_DIAMOND",
    "mmlu_pro": "peft_rlvr_bench.tasks.hf_datasets:MMLU_PRO",
    "mmlu": "peft_rlvr_bench.tasks.hf_datasets:MMLU",
}.items():
    TASKS.register_lazy(_name, _target)
# rg:<dataset>: a reasoning-gym generator (the optional extra; peft_rlvr_bench/tasks/reasoning_gym.py).
TASKS.register_family("rg", "peft_rlvr_bench.tasks.reasoning_gym:task_for_dataset", argument="dataset")

VERIFIERS.register_lazy("int_match", "peft_rlvr_bench.verifiers:integer_match")
VERIFIERS.register_lazy("choice_match", "peft_rlvr_bench.verifiers:choice_match")
VERIFIERS.register_lazy("math_verify", "peft_rlvr_bench.math_verification:math_verify")
VERIFIERS.register_lazy("reasoning_gym", "peft_rlvr_bench.tasks.reasoning_gym:reasoning_gym_score")

for _name, _target in {
    "linear": "peft_rlvr_bench.extrapolation.linear:Linear",
    "relex": "peft_rlvr_bench.extrapolation.relex:RELEX",
    "alpharl": "peft_rlvr_bench.extrapolation.alpharl:AlphaRL",
    "regrounding": "peft_rlvr_bench.extrapolation.regrounding:Regrounding",
    "next": "peft_rlvr_bench.extrapolation.next:NExt",
    "rank1": "peft_rlvr_bench.extrapolation.rank1_model:Rank1Model",
    "blocks_only": "peft_rlvr_bench.extrapolation.rank1_model:BlocksOnlyModel",
}.items():
    EXTRAPOLATORS.register_lazy(_name, _target)
