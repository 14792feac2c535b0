"""Weight trajectories: the trainable state recorded every k optimizer updates, read back per tensor.

A run's trajectory directory holds one safetensors file per record and a ``manifest.json``
that maps each record to its optimizer-update count (METHODS.md: time is counted in updates,
and the map from checkpoint to updates is written down, never inferred from file order).

What a record holds is the trainable state, so bytes per record are about the trainable bytes:

- kind ``"peft"`` (a ``peft.PeftModel``): every trainable tensor under its peft parameter name,
  as it is (LoRA factors, DoRA magnitudes, VeRA vectors, ...). Each LoRA module's scaling goes
  into the manifest once, and LoRA factors that do not train (LoRA-FA's A) into one extra file
  written at update 0, so effective weights can be rebuilt without peft.
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
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from transformers import TrainerCallback

MANIFEST = "manifest.json"
FROZEN_FILE = "frozen_factors.safetensors"
_PEFT_PREFIX = "base_model.model."


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
    frozen: FrozenEntry | None = None

    @model_validator(mode="after")
    def _check_records(self) -> Manifest:
        updates = [record.update for record in self.records]
        if not updates or updates[0] != 0:
            raise ValueError(f"records must start at update 0, got updates {updates}")
        if any(after <= before for before, after in itertools.pairwise(updates)):
            raise ValueError(f"record updates must be strictly ascending, got {updates}")
        files = [record.file for record in self.records] + ([self.frozen.file] if self.frozen else [])
        for file in files:
            if Path(file).name != file or file in ("", ".", ".."):
                raise ValueError(f"record file {file!r} must be a plain file name in the directory")
        return self


class TrajectoryRecorder(TrainerCallback):
    """Records the trainable state at update 0, every ``every`` updates, and at the last update.

    As a ``TrainerCallback`` it takes the model from the ``model=`` keyword that transformers'
    ``CallbackHandler`` passes to every event; ``record(model, update)`` works without a Trainer.
    """

    def __init__(self, directory: Path, every: int, base_reference: str) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive number of optimizer updates, got {every}")
        self.directory = Path(directory)
        self.every = every
        self.base_reference = base_reference
        self.manifest: Manifest | None = None
        """The manifest as last written; None before the first record."""
        self._fields: dict[str, Any] = {}
        self._w0: dict[str, torch.Tensor] = {}

    @property
    def last_update(self) -> int | None:
        return self.manifest.records[-1].update if self.manifest else None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._record_event(state, kwargs)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step % self.every == 0:
            self._record_event(state, kwargs)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._record_event(state, kwargs)

    def _record_event(self, state: Any, kwargs: dict[str, Any]) -> None:
        if not getattr(state, "is_world_process_zero", True) or state.global_step == self.last_update:
            return
        if kwargs.get("model") is None:
            raise ValueError("TrajectoryRecorder needs the model: the callback event came without model=")
        self.record(kwargs["model"], state.global_step)

    def record(self, model: torch.nn.Module, update: int) -> Path:
        """Writes the record of ``model`` after ``update`` optimizer updates; returns its file.

        The first record must be update 0 (the reference for deltas and for ``B_0 A_0``), and
        updates must increase. The manifest is rewritten atomically after the record is in place.
        """
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        if self.manifest is None and update != 0:
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
        if self.manifest is None:
            self._fields = self._fixed_fields(model, kind, tensors)
        elif sorted(tensors) != sorted(self.manifest.tensors) or kind != self.manifest.kind:
            raise ValueError(
                f"the trainable tensors changed since update 0 ({len(self.manifest.tensors)} then, "
                f"{len(tensors)} now): a trajectory needs the same tensors in every record"
            )
        file = f"update_{update:06d}.safetensors"
        size = _save(tensors, self.directory / file, {"update": str(update), "kind": kind})
        records = [
            *(self.manifest.records if self.manifest else []),
            RecordEntry(update=update, file=file, bytes=size),
        ]
        manifest = Manifest(**self._fields, records=records)
        _write_atomic(self.directory / MANIFEST, manifest.model_dump_json(indent=1).encode())
        self.manifest = manifest
        return self.directory / file

    def _fixed_fields(
        self, model: torch.nn.Module, kind: str, tensors: dict[str, torch.Tensor]
    ) -> dict[str, Any]:
        """Manifest fields that every record shares, taken at update 0."""
        dtypes = {str(tensor.dtype).removeprefix("torch.") for tensor in tensors.values()}
        fields: dict[str, Any] = {}
        if kind == "peft":
            fields = _lora_fields(model)
            frozen = fields.pop("frozen_tensors")
            if frozen:
                size = _save(frozen, self.directory / FROZEN_FILE, {"kind": "frozen LoRA factors"})
                fields["frozen"] = FrozenEntry(file=FROZEN_FILE, tensors=sorted(frozen), bytes=size)
        return {
            "kind": kind,
            "every": self.every,
            "base": self.base_reference,
            "dtype": dtypes.pop() if len(dtypes) == 1 else "mixed",
            "tensors": list(tensors),
            "trainable_bytes": sum(t.numel() * t.element_size() for t in tensors.values()),
            **fields,
        }


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

    def _file_of(self, name: str, update: int) -> Path:
        frozen = self.manifest.frozen
        if frozen is not None and name in frozen.tensors:
            if update not in self.updates:
                raise ValueError(f"no record at update {update}; recorded updates: {self.updates}")
            return self.directory / frozen.file
        if name not in self.manifest.tensors:
            raise KeyError(f"{name!r} is not in the trajectory at {self.directory}")
        for record in self.manifest.records:
            if record.update == update:
                return self.directory / record.file
        raise ValueError(f"no record at update {update}; recorded updates: {self.updates}")

    def _read(self, path: Path, names: list[str]) -> dict[str, torch.Tensor]:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device="cpu") as handle:
            return {name: handle.get_tensor(name) for name in names}


def effective_weight_names(traj: Trajectory) -> list[str]:
    """Names of the base weights whose effective values the trajectory determines."""
    if traj.kind == "delta":
        return traj.names
    return [base_weight_name(module) for module in _lora_modules(traj)]


def effective_series(
    traj: Trajectory,
    base: Mapping[str, torch.Tensor] | Callable[[str], torch.Tensor],
    name: str,
) -> list[tuple[int, torch.Tensor]]:
    """``(update, W_t)`` of base weight ``name`` at every recorded update, in ``W0``'s dtype and device.

    ``base`` gives the original ``W0`` by base-model parameter name (a state dict or a loader
    function); it must be the weights the run started from, never a residual. Reads one record
    at a time: memory is this one weight's trajectory.
    """
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
    manifest = traj.manifest
    method = "DoRA" if manifest.use_dora else manifest.peft_type or "this peft method"
    unsupported = (
        f"{method}: only LoRA-factor and delta trajectories can be turned into effective weights yet"
    )
    if manifest.peft_type != "LORA" or manifest.use_dora:
        raise NotImplementedError(unsupported)
    factors = {
        factor: module
        for module in manifest.lora_scaling
        for factor in _factor_names(module, manifest.adapter)
    }
    stored = set(manifest.tensors) | set(manifest.frozen.tensors if manifest.frozen else [])
    other = sorted(set(manifest.tensors) - set(factors))
    missing = sorted(set(factors) - stored)
    if other or missing:
        detail = f"trainable tensors besides LoRA factors: {other[:3]}" if other else f"missing {missing[:3]}"
        raise NotImplementedError(f"{unsupported} ({detail})")
    return list(manifest.lora_scaling)


def _factor_names(module: str, adapter: str | None) -> tuple[str, str]:
    return f"{module}.lora_A.{adapter}.weight", f"{module}.lora_B.{adapter}.weight"


def _lora_fields(model: Any) -> dict[str, Any]:
    """Manifest fields of a peft model: method, LoRA scalings, and LoRA factors that do not train."""
    from peft.tuners.lora import LoraLayer
    from transformers.pytorch_utils import Conv1D

    adapter = model.active_adapter
    config = model.peft_config[adapter]
    scaling: dict[str, float] = {}
    transposed: list[str] = []
    frozen: dict[str, torch.Tensor] = {}
    for module_name, module in model.named_modules():
        if not isinstance(module, LoraLayer) or adapter not in module.lora_A:
            continue
        if not isinstance(module.get_base_layer(), torch.nn.Linear | Conv1D):
            continue  # conv LoRA: its factors count as tensors we cannot rebuild from
        scaling[module_name] = float(module.scaling[adapter])
        if getattr(module, "fan_in_fan_out", False):
            transposed.append(module_name)
        names = _factor_names(module_name, adapter)
        for name, factor in zip(names, (module.lora_A[adapter], module.lora_B[adapter]), strict=True):
            if not factor.weight.requires_grad:
                frozen[name] = factor.weight.detach().to("cpu", copy=True).contiguous()
    return {
        "peft_type": str(getattr(config.peft_type, "value", config.peft_type)),
        "use_dora": bool(getattr(config, "use_dora", False)),
        "adapter": adapter,
        "lora_scaling": scaling,
        "lora_fan_in_fan_out": transposed,
        "frozen_tensors": frozen,
    }


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
