"""Reading a trajectory back, one tensor at a time: records, effective weights against the
original W0 (``W0 + s (B_t A_t - B_0 A_0)`` for LoRA factors, ``W0 + delta`` for plain models)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from peft_rlvr_bench.trajectory.manifest import MANIFEST, PEFT_PREFIX, Manifest


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
    return f"{module.removeprefix(PEFT_PREFIX)}.weight"


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


def _check_shape(name: str, w0: torch.Tensor, shape: torch.Size, update: int) -> None:
    if tuple(shape) != tuple(w0.shape):
        raise ValueError(
            f"{name}: the trajectory at update {update} has shape {tuple(shape)}, "
            f"but the base weight has shape {tuple(w0.shape)}; is this the run's base?"
        )
