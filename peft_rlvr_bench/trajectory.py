"""Weight trajectories: the trainable state recorded every k optimizer updates, read back per tensor.

A run's trajectory directory holds one safetensors file per record and a ``manifest.json``
that maps each record to its optimizer-update count (METHODS.md: time is counted in updates,
and the map from checkpoint to updates is written down, never inferred from file order).

What a record holds is the trainable state, so bytes per record are about the trainable bytes:

- kind ``"peft"`` (a ``peft.PeftModel``): every trainable tensor under its peft parameter name,
  as it is (LoRA factors, DoRA magnitudes, VeRA vectors, ...). At update 0 the adapter's peft
  config goes into ``adapter_config.json`` and the adapter tensors that never train (LoRA-FA's A,
  VeRA's shared projections, AdaLoRA's ranknum) into one extra file; each LoRA module's scaling
  goes into the manifest. Plain LoRA factors are then rebuilt per tensor without peft; every
  other method (DoRA, VeRA, IA3, AdaLoRA, MiSS, LN tuning) only as a whole model, by loading a
  record into peft and letting peft merge it (``from_trajectory.effective_state_at``).
- kind ``"delta"`` (a plain model: full or sparse fine-tuning): ``W_t - W0`` of every trainable
  tensor, in the parameter's dtype; frozen coordinates of a sparse run stay bitwise ``W0``, so
  their deltas are exact zeros. ``W0 + (W_t - W0)`` is bitwise ``W_t`` whenever the subtraction is
  exact (Sterbenz: ``W_t`` within a factor 2 of ``W0``); otherwise it is off by one rounding.

Update 0 is the model right after the adapter was applied, before any update; every trajectory
starts there. Effective weights are always measured against the original ``W0``: for residual
methods (PiSSA, OLoRA, MiLoRA, GeoRA) ``W_res = W0 - s B_0 A_0``, so
``W_t = W0 + s (B_t A_t - B_0 A_0)`` holds for them and for plain LoRA (``B_0 = 0``) alike.

Reading is lazy: the reader opens one file per call and reads only the tensors asked for, so a
caller holds one tensor's trajectory at a time, never T checkpoints. Recording assumes one
process holding whole parameters (single device or DDP); sharded ZeRO-3/FSDP parameters would
need gathering first.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from transformers import TrainerCallback

MANIFEST = "manifest.json"
FROZEN_FILE = "frozen_factors.safetensors"
PEFT_CONFIG_FILE = "adapter_config.json"
"""What ``PeftConfig.save_pretrained`` writes (peft's ``CONFIG_NAME``)."""
_PEFT_PREFIX = "base_model.model."
# Path components under which peft keeps a wrapped layer's own parameters.
_WRAPPER_COMPONENTS = frozenset({"base_layer", "original_module"})


class RecordEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    update: int = Field(ge=0, description="optimizer updates done when the record was taken")
    file: str
    bytes: int = Field(ge=0, description="size of the record's file")


class FrozenEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str
    tensors: list[str]
    bytes: int = Field(ge=0)


class Manifest(BaseModel):
    """``manifest.json``: what a trajectory directory holds and at which updates."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = 1
    kind: Literal["peft", "delta"]
    every: int = Field(ge=1, description="records every this many optimizer updates (plus the last)")
    base: str = Field(description="the base model the run started from (its W0)")
    dtype: str = Field(description="dtype of the recorded tensors, or 'mixed'")
    tensors: list[str] = Field(description="names of the tensors in every record")
    trainable_bytes: int = Field(ge=0, description="bytes of the recorded tensors in one record")
    records: list[RecordEntry]
    peft_type: str | None = None
    use_dora: bool = False
    adapter: str | None = None
    lora_scaling: dict[str, float] = Field(default_factory=dict, description="LoRA module -> s")
    lora_fan_in_fan_out: list[str] = Field(
        default_factory=list, description="LoRA modules whose delta is (B A)^T (GPT-2's Conv1D)"
    )
    frozen: FrozenEntry | None = Field(
        None, description="adapter tensors that never train, written once at update 0"
    )
    peft_config: str | None = Field(
        None, description="file of the adapter's peft config; absent in trajectories recorded before it"
    )
    wrapped_weights: list[str] = Field(
        default_factory=list,
        description="base-model parameters of the layers the adapter wraps: all that a merge can change",
    )

    @model_validator(mode="after")
    def _check_records(self) -> Manifest:
        updates = [record.update for record in self.records]
        if not updates or updates[0] != 0:
            raise ValueError(f"records must start at update 0, got updates {updates}")
        if any(after <= before for before, after in itertools.pairwise(updates)):
            raise ValueError(f"record updates must be strictly ascending, got {updates}")
        files = [record.file for record in self.records]
        files += [self.frozen.file] if self.frozen else []
        files += [self.peft_config] if self.peft_config else []
        for file in files:
            if Path(file).name != file or file in ("", ".", ".."):
                raise ValueError(f"record file {file!r} must be a plain file name in the directory")
        return self


class TrajectoryRecorder(TrainerCallback):
    """Records the trainable state at update 0, every ``every`` updates, and at the last update.

    As a ``TrainerCallback`` it takes the model from the ``model=`` keyword that transformers'
    ``CallbackHandler`` passes to every event; ``record(model, update)`` works without a Trainer.
    """

    def __init__(
        self, directory: Path, every: int, base_reference: str, background: bool | None = None
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive number of optimizer updates, got {every}")
        self.directory = Path(directory)
        self.every = every
        self.base_reference = base_reference
        self.manifest: Manifest | None = None
        """The manifest as last written; None before the first record."""
        self._fields: dict[str, Any] = {}
        self._w0: dict[str, torch.Tensor] = {}
        self._last_taken: int | None = None
        # Serialising a record is most of its cost. A writer thread can do it while the next
        # update runs, but only pays where a core is free: on a CPU whose cores torch already
        # uses, it slowed tiny-world updates by a third (benchmarks/RESULTS.md). One worker keeps
        # records in order.
        if background is None:
            background = torch.cuda.is_available() or (os.cpu_count() or 1) > torch.get_num_threads()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="trajectory") if background else None
        self._pending: list[Future[None]] = []

    @property
    def last_update(self) -> int | None:
        """The last update taken (its file may still be being written during training)."""
        return self._last_taken

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.last_update is None:  # a resumed run has its records up to the checkpoint
            self._record_event(state, kwargs)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step % self.every == 0:
            self._record_event(state, kwargs)
        if getattr(control, "should_save", False):
            # The trainer checkpoint of this update comes next: its records must be on disk
            # first, so a run resumed from it finds every record up to it.
            self.flush()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._record_event(state, kwargs)
        self.flush()

    def _record_event(self, state: Any, kwargs: dict[str, Any]) -> None:
        if not getattr(state, "is_world_process_zero", True) or state.global_step == self.last_update:
            return
        if kwargs.get("model") is None:
            raise ValueError("TrajectoryRecorder needs the model: the callback event came without model=")
        self.take(kwargs["model"], state.global_step)

    def resume(self, model: torch.nn.Module, update: int) -> bool:
        """Continues the trajectory of a run resumed from its checkpoint at ``update``.

        Records after ``update`` (the killed process went on past its checkpoint) are dropped,
        as are files no manifest names (a record cut off mid-write); the resumed run records them
        again. ``model`` must still hold the update-0 state (the checkpoint not loaded yet): it
        gives W0 back to delta trajectories. Returns False, changing nothing, when the directory
        cannot continue (no manifest, another model, a record up to ``update`` missing): the
        caller then starts the run afresh.
        """
        try:
            manifest = Trajectory(self.directory).manifest
        except ValueError:
            return False
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
        kept = [record for record in manifest.records if record.update <= update]
        expected = {u for u in range(0, update + 1, self.every)}
        if (
            manifest.every != self.every
            or sorted(manifest.tensors) != sorted(trainable)
            or not expected <= {record.update for record in kept}
        ):
            return False
        manifest = manifest.model_copy(update={"records": kept})
        _write_atomic(self.directory / MANIFEST, manifest.model_dump_json(indent=1).encode())
        named = {record.file for record in kept}
        for path in [*self.directory.glob("update_*.safetensors"), *self.directory.glob(".*.tmp")]:
            if path.name not in named:
                path.unlink()
        self.manifest = manifest
        self._fields = manifest.model_dump(exclude={"records"})
        self._last_taken = kept[-1].update
        if manifest.kind == "delta":
            with torch.no_grad():
                self._w0 = {name: p.detach().to("cpu", copy=True) for name, p in trainable.items()}
        return True

    def record(self, model: torch.nn.Module, update: int) -> Path:
        """Writes the record of ``model`` after ``update`` optimizer updates; returns its file,
        in place with the manifest naming it."""
        path = self.take(model, update)
        self.flush()
        return path

    def flush(self) -> None:
        """Waits for the records taken so far to be written; re-raises a writer's error."""
        pending, self._pending = self._pending, []
        for write in pending:
            write.result()

    def _raise_failed_writes(self) -> None:
        """A failed write (a full disk) surfaces at the next record, not only at the end."""
        running = []
        for write in self._pending:
            if write.done():
                write.result()
            else:
                running.append(write)
        self._pending = running

    def take(self, model: torch.nn.Module, update: int) -> Path:
        """Copies the trainable state of ``model`` after ``update`` updates and queues its write.

        The first record must be update 0 (the reference for deltas and for ``B_0 A_0``), and
        updates must increase. The copy is taken now, so training may go on at once; the record
        file is written, then the manifest rewritten atomically to name it, in the order taken.
        A crash between the two leaves a manifest that names only complete records.
        """
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        if self.last_update is None and update != 0:
            raise ValueError(f"the first record must be update 0 (before any update), got {update}")
        if self.last_update is not None and update <= self.last_update:
            raise ValueError(f"update {update} is not after the last record ({self.last_update})")
        self.directory.mkdir(parents=True, exist_ok=True)
        kind = "peft" if _is_peft(model) else "delta"
        with torch.no_grad():
            tensors = {
                name: parameter.detach().to("cpu", copy=True).contiguous()
                for name, parameter in model.named_parameters()
                if parameter.requires_grad
            }
            if kind == "delta":
                if update == 0:
                    self._w0 = {name: tensor.clone() for name, tensor in tensors.items()}
                for name, tensor in tensors.items():
                    tensor.sub_(self._w0[name])
        if self.last_update is None:
            self._fields = self._fixed_fields(model, kind, tensors)
        elif sorted(tensors) != sorted(self._fields["tensors"]) or kind != self._fields["kind"]:
            raise ValueError(
                f"the trainable tensors changed since update 0 ({len(self._fields['tensors'])} then, "
                f"{len(tensors)} now): a trajectory needs the same tensors in every record"
            )
        self._last_taken = update
        file = f"update_{update:06d}.safetensors"

        def write() -> None:
            size = _save(tensors, self.directory / file, {"update": str(update), "kind": kind})
            records = [
                *(self.manifest.records if self.manifest else []),
                RecordEntry(update=update, file=file, bytes=size),
            ]
            manifest = Manifest(**self._fields, records=records)
            _write_atomic(self.directory / MANIFEST, manifest.model_dump_json(indent=1).encode())
            self.manifest = manifest

        self._raise_failed_writes()
        if self._writer is None:
            write()
        else:
            self._pending.append(self._writer.submit(write))
        return self.directory / file

    def _fixed_fields(
        self, model: torch.nn.Module, kind: str, tensors: dict[str, torch.Tensor]
    ) -> dict[str, Any]:
        """Manifest fields that every record shares, taken at update 0."""
        dtypes = {str(tensor.dtype).removeprefix("torch.") for tensor in tensors.values()}
        fields: dict[str, Any] = {}
        if kind == "peft":
            fields = {**_lora_fields(model), **self._write_adapter_files(model)}
        return {
            "kind": kind,
            "every": self.every,
            "base": self.base_reference,
            "dtype": dtypes.pop() if len(dtypes) == 1 else "mixed",
            "tensors": list(tensors),
            "trainable_bytes": sum(t.numel() * t.element_size() for t in tensors.values()),
            **fields,
        }

    def _write_adapter_files(self, model: Any) -> dict[str, Any]:
        """Writes what rebuilding through peft needs besides the records: config and frozen tensors.

        Frozen tensors are stored even where peft could regenerate them (VeRA's projections from
        ``projection_prng_key``, AdaLoRA's ranknum from ``init_r``): they are small, and the
        rebuild then does not depend on peft regenerating them the same way in another version.
        """
        adapter = model.active_adapter
        model.peft_config[adapter].save_pretrained(str(self.directory))
        fields: dict[str, Any] = {
            "peft_config": PEFT_CONFIG_FILE,
            "wrapped_weights": [
                _unwrapped_name(name)
                for name, _ in model.named_parameters()
                if _WRAPPER_COMPONENTS.intersection(name.split("."))
            ],
        }
        frozen = _frozen_adapter_tensors(model, adapter)
        if frozen:
            size = _save(frozen, self.directory / FROZEN_FILE, {"kind": "frozen adapter tensors"})
            fields["frozen"] = FrozenEntry(file=FROZEN_FILE, tensors=sorted(frozen), bytes=size)
        return fields


class Trajectory:
    """A recorded trajectory, read lazily: one file opened per call, one tensor read at a time."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        path = self.directory / MANIFEST
        try:
            text = path.read_text()
        except OSError as error:
            raise ValueError(f"{path}: cannot read the trajectory manifest ({error.strerror})") from None
        try:
            self.manifest = Manifest.model_validate(json.loads(text))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
        except ValidationError as error:
            raise ValueError(f"{path}: not a valid trajectory manifest: {error}") from None

    @classmethod
    def _view(cls, directory: Path, manifest: Manifest) -> Trajectory:
        view = cls.__new__(cls)
        view.directory, view.manifest = directory, manifest
        return view

    @property
    def updates(self) -> list[int]:
        return [record.update for record in self.manifest.records]

    @property
    def kind(self) -> str:
        return self.manifest.kind

    @property
    def names(self) -> list[str]:
        """Names of the tensors in every record (peft parameter names, or the model's for deltas)."""
        return list(self.manifest.tensors)

    @property
    def base_reference(self) -> str:
        return self.manifest.base

    def upto(self, max_update: int) -> Trajectory:
        """The same trajectory observed only up to ``max_update`` updates (records after it hidden)."""
        if max_update < 0:
            raise ValueError(f"max_update must be >= 0, got {max_update}")
        kept = [record for record in self.manifest.records if record.update <= max_update]
        return Trajectory._view(self.directory, self.manifest.model_copy(update={"records": kept}))

    def tensor(self, name: str, update: int) -> torch.Tensor:
        """Tensor ``name`` as recorded after ``update`` updates (a delta for kind ``"delta"``)."""
        return self._read(self._file_of(name, update), [name])[name]

    def series(self, name: str) -> Iterator[tuple[int, torch.Tensor]]:
        """``(update, tensor)`` for every record, each read only when the iterator reaches it."""
        for update in self.updates:
            yield update, self.tensor(name, update)

    def adapter_state(self, update: int) -> dict[str, torch.Tensor]:
        """Every adapter tensor at ``update`` by peft parameter name: the record and the frozen ones.

        Reads the whole record: this is for rebuilding one whole peft model, not for streaming.
        """
        state = self._read(self._record_path(update), self.names)
        frozen = self.manifest.frozen
        if frozen is not None:
            state.update(self._read(self.directory / frozen.file, frozen.tensors))
        return state

    def peft_config(self) -> Any:
        """The adapter's ``peft.PeftConfig`` as it was at update 0.

        Raises NotImplementedError for trajectories recorded before configs were kept, the same
        error as for any trajectory whose effective weights cannot be rebuilt.
        """
        if self.kind != "peft" or self.manifest.peft_config is None:
            raise NotImplementedError(
                f"{_method(self.manifest)}: only LoRA-factor and delta trajectories can be turned into "
                f"effective weights without the adapter's peft config, and {self.directory} has none"
            )
        from peft import PeftConfig

        path = self.directory / self.manifest.peft_config
        if not path.is_file():  # from_pretrained would go looking for it on the Hub
            raise ValueError(f"{path}: the peft config named in the manifest is missing")
        return PeftConfig.from_pretrained(str(path.parent))

    def _file_of(self, name: str, update: int) -> Path:
        frozen = self.manifest.frozen
        if frozen is not None and name in frozen.tensors:
            self._record_path(update)  # the frozen file serves recorded updates only
            return self.directory / frozen.file
        if name not in self.manifest.tensors:
            raise KeyError(f"{name!r} is not in the trajectory at {self.directory}")
        return self._record_path(update)

    def _record_path(self, update: int) -> Path:
        for record in self.manifest.records:
            if record.update == update:
                return self.directory / record.file
        raise ValueError(f"no record at update {update}; recorded updates: {self.updates}")

    def _read(self, path: Path, names: list[str]) -> dict[str, torch.Tensor]:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device="cpu") as handle:
            return {name: handle.get_tensor(name) for name in names}


def effective_weight_names(traj: Trajectory) -> list[str]:
    """Names of the base weights whose effective values the trajectory determines.

    For methods rebuilt through peft these are the parameters of the layers the adapter wraps,
    which is every base weight a merge can change. Raises NotImplementedError where the
    effective weights cannot be rebuilt at all (a peft trajectory that predates saved configs).
    """
    if traj.kind == "delta":
        return traj.names
    if _lora_gap(traj.manifest) is None:
        return [base_weight_name(module) for module in _lora_modules(traj)]
    traj.peft_config()  # raises where the trajectory cannot be rebuilt
    return list(traj.manifest.wrapped_weights)


def rebuilds_per_tensor(traj: Trajectory) -> bool:
    """Whether ``effective_series`` can rebuild each weight on its own (deltas and LoRA factors).

    Other peft methods couple weights through peft's own merge (DoRA's norms, VeRA's shared
    projections, ...), so their effective weights are only rebuilt as one whole model.
    """
    return traj.kind == "delta" or _lora_gap(traj.manifest) is None


def effective_series(
    traj: Trajectory,
    base: Mapping[str, torch.Tensor] | Callable[[str], torch.Tensor],
    name: str,
) -> list[tuple[int, torch.Tensor]]:
    """``(update, W_t)`` of base weight ``name`` at every recorded update, in ``W0``'s dtype and device.

    ``base`` gives the original ``W0`` by base-model parameter name (a state dict or a loader
    function); it must be the weights the run started from, never a residual. Reads one record
    at a time: memory is this one weight's trajectory. Raises NotImplementedError for
    trajectories that ``rebuilds_per_tensor`` rejects.
    """
    if not rebuilds_per_tensor(traj):
        raise NotImplementedError(
            f"{_method(traj.manifest)}: only LoRA-factor and delta trajectories give per-tensor series; "
            "rebuild whole states with from_trajectory.effective_state_at(..., base_model=...)"
        )
    w0 = base(name) if callable(base) else base[name]
    if traj.kind == "delta":
        series = []
        for update, delta in traj.series(name):
            _check_shape(name, w0, delta.shape, update)
            series.append((update, w0 + delta.to(device=w0.device, dtype=w0.dtype)))
        return series

    modules = {base_weight_name(module): module for module in _lora_modules(traj)}
    if name not in modules:
        raise KeyError(f"{name!r} is not a LoRA target of the trajectory at {traj.directory}")
    module = modules[name]
    scaling = traj.manifest.lora_scaling[module]
    a_name, b_name = _factor_names(module, traj.manifest.adapter)
    w0_wide = w0.detach().to(torch.float64)
    product_0: torch.Tensor | None = None
    series = []
    for update in traj.updates:
        factors = _read_factors(traj, update, [a_name, b_name])
        product = factors[b_name].to(device=w0.device, dtype=torch.float64) @ factors[a_name].to(
            device=w0.device, dtype=torch.float64
        )
        if module in traj.manifest.lora_fan_in_fan_out:
            product = product.T
        if product_0 is None:  # the first record is update 0: the manifest guarantees it
            product_0 = product
        _check_shape(name, w0, product.shape, update)
        series.append((update, (w0_wide + scaling * (product - product_0)).to(w0.dtype)))
    return series


def base_weight_name(module: str) -> str:
    """The base model's weight name of a peft module: ``base_model.model.X`` -> ``X.weight``."""
    return f"{module.removeprefix(_PEFT_PREFIX)}.weight"


def _read_factors(traj: Trajectory, update: int, names: list[str]) -> dict[str, torch.Tensor]:
    """Both factors of one module at one update, opening each file involved once."""
    by_file: dict[Path, list[str]] = {}
    for name in names:
        by_file.setdefault(traj._file_of(name, update), []).append(name)
    tensors: dict[str, torch.Tensor] = {}
    for path, in_file in by_file.items():
        tensors.update(traj._read(path, in_file))
    return tensors


def _lora_modules(traj: Trajectory) -> list[str]:
    """LoRA modules whose effective weights the trajectory determines; raises for other methods."""
    gap = _lora_gap(traj.manifest)
    if gap is not None:
        raise NotImplementedError(
            f"{_method(traj.manifest)}: not a LoRA-factor trajectory, so no per-tensor rebuild ({gap})"
        )
    return list(traj.manifest.lora_scaling)


def _lora_gap(manifest: Manifest) -> str | None:
    """Why the trajectory is not plain LoRA factors (rebuilt per tensor); None when it is."""
    if manifest.kind != "peft" or manifest.peft_type != "LORA" or manifest.use_dora:
        return f"peft type {manifest.peft_type}" + (" with DoRA" if manifest.use_dora else "")
    adapter = manifest.adapter
    factors = {factor for module in manifest.lora_scaling for factor in _factor_names(module, adapter)}
    stored = set(manifest.tensors) | set(manifest.frozen.tensors if manifest.frozen else [])
    other = sorted(set(manifest.tensors) - factors)
    missing = sorted(factors - stored)
    if other:
        return f"trainable tensors besides LoRA factors: {other[:3]}"
    if missing:
        return f"missing {missing[:3]}"
    return None


def _method(manifest: Manifest) -> str:
    return "DoRA" if manifest.use_dora else manifest.peft_type or "this peft method"


def _factor_names(module: str, adapter: str | None) -> tuple[str, str]:
    return f"{module}.lora_A.{adapter}.weight", f"{module}.lora_B.{adapter}.weight"


def _lora_fields(model: Any) -> dict[str, Any]:
    """Manifest fields of a peft model: method and LoRA scalings."""
    from peft.tuners.lora import LoraLayer
    from transformers.pytorch_utils import Conv1D

    adapter = model.active_adapter
    config = model.peft_config[adapter]
    scaling: dict[str, float] = {}
    transposed: list[str] = []
    for module_name, module in model.named_modules():
        if not isinstance(module, LoraLayer) or adapter not in module.lora_A:
            continue
        if not isinstance(module.get_base_layer(), torch.nn.Linear | Conv1D):
            continue  # conv LoRA: its factors count as tensors we cannot rebuild from
        scaling[module_name] = float(module.scaling[adapter])
        if getattr(module, "fan_in_fan_out", False):
            transposed.append(module_name)
    return {
        "peft_type": str(getattr(config.peft_type, "value", config.peft_type)),
        "use_dora": bool(getattr(config, "use_dora", False)),
        "adapter": adapter,
        "lora_scaling": scaling,
        "lora_fan_in_fan_out": transposed,
    }


def _frozen_adapter_tensors(model: Any, adapter: str) -> dict[str, torch.Tensor]:
    """Adapter tensors (peft keys them by adapter name) that do not train, by peft name.

    Buffers count too: VeRA keeps its shared projections as buffers, so ``named_parameters``
    alone would miss them.
    """
    named = itertools.chain(model.named_parameters(), model.named_buffers())
    return {
        name: tensor.detach().to("cpu", copy=True).contiguous()
        for name, tensor in named
        if adapter in name.split(".") and not tensor.requires_grad
    }


def _unwrapped_name(name: str) -> str:
    """A wrapped layer's parameter by its base-model name: ``base_model.model.X.base_layer.w`` -> ``X.w``."""
    parts = name.removeprefix(_PEFT_PREFIX).split(".")
    return ".".join(part for part in parts if part not in _WRAPPER_COMPONENTS)


def _is_peft(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def _save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> int:
    """Writes a safetensors file atomically; returns its size in bytes."""
    from safetensors.torch import save_file

    temporary = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(temporary), metadata=metadata)
    os.replace(temporary, path)
    return path.stat().st_size


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _check_shape(name: str, w0: torch.Tensor, shape: torch.Size, update: int) -> None:
    if tuple(shape) != tuple(w0.shape):
        raise ValueError(
            f"{name}: the trajectory at update {update} has shape {tuple(shape)}, "
            f"but the base weight has shape {tuple(w0.shape)}; is this the run's base?"
        )
