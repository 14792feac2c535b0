"""The trajectory format: the trainable state recorded every k optimizer updates, and its manifest.

A run's trajectory directory holds one safetensors file per record and a ``manifest.json``
that maps each record to its optimizer-update count (time is counted in updates, and the map
from checkpoint to updates is written down, never inferred from file order).

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
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MANIFEST = "manifest.json"
FROZEN_FILE = "frozen_factors.safetensors"
PEFT_CONFIG_FILE = "adapter_config.json"
"""What ``PeftConfig.save_pretrained`` writes (peft's ``CONFIG_NAME``)."""
PEFT_PREFIX = "base_model.model."
# Path components under which peft keeps a wrapped layer's own parameters.
WRAPPER_COMPONENTS = frozenset({"base_layer", "original_module"})


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


def unwrapped_name(name: str) -> str:
    """A wrapped layer's parameter by its base-model name: ``base_model.model.X.base_layer.w`` -> ``X.w``."""
    parts = name.removeprefix(PEFT_PREFIX).split(".")
    return ".".join(part for part in parts if part not in WRAPPER_COMPONENTS)


def write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
