"""Recording a run's trajectory: a trainer callback that writes the trainable state every k
updates (``trajectory/manifest.py`` says what a record holds)."""

from __future__ import annotations

import itertools
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from peft_rlvr_bench.trajectory.manifest import (
    FROZEN_FILE,
    MANIFEST,
    PEFT_CONFIG_FILE,
    WRAPPER_COMPONENTS,
    FrozenEntry,
    Manifest,
    RecordEntry,
    unwrapped_name,
    write_atomic,
)
from peft_rlvr_bench.trajectory.reader import Trajectory


class TrajectoryRecorder(TrainerCallback):
    """Records the trainable state at update 0, every ``every`` updates (and every update up to
    ``dense_until``), and at the last update.

    As a ``TrainerCallback`` it takes the model from the ``model=`` keyword that transformers'
    ``CallbackHandler`` passes to every event; ``record(model, update)`` works without a Trainer.
    """

    def __init__(
        self,
        directory: Path,
        every: int,
        base_reference: str,
        background: bool | None = None,
        dense_until: int | None = None,
    ) -> None:
        if every < 1:
            raise ValueError(f"every must be a positive number of optimizer updates, got {every}")
        self.directory = Path(directory)
        self.every = every
        self.dense_until = dense_until or 0
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

    def due(self, update: int) -> bool:
        """Whether ``update`` is one the schedule records (the last update is recorded anyway)."""
        return update % self.every == 0 or update <= self.dense_until

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.due(state.global_step):
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
        expected = {u for u in range(0, update + 1) if self.due(u)}
        if (
            manifest.every != self.every
            or sorted(manifest.tensors) != sorted(trainable)
            or not expected <= {record.update for record in kept}
        ):
            return False
        manifest = manifest.model_copy(update={"records": kept})
        write_atomic(self.directory / MANIFEST, manifest.model_dump_json(indent=1).encode())
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
            write_atomic(self.directory / MANIFEST, manifest.model_dump_json(indent=1).encode())
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
                unwrapped_name(name)
                for name, _ in model.named_parameters()
                if WRAPPER_COMPONENTS.intersection(name.split("."))
            ],
        }
        frozen = _frozen_adapter_tensors(model, adapter)
        if frozen:
            size = _save(frozen, self.directory / FROZEN_FILE, {"kind": "frozen adapter tensors"})
            fields["frozen"] = FrozenEntry(file=FROZEN_FILE, tensors=sorted(frozen), bytes=size)
        return fields


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
