"""Recording small trajectories: an adapter applied to the tiny test model, a few AdamW updates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from peft_rlvr_bench.adapters import ApplyContext
from peft_rlvr_bench.registry import ADAPTERS
from peft_rlvr_bench.trajectory import TrajectoryRecorder
from tests.helpers.tiny_models import VOCAB, tiny_model

INPUTS = torch.randint(0, VOCAB, (2, 8), generator=torch.Generator().manual_seed(0))
"""The language-model batch every recorded update trains on."""


def wrap(name: str, params: dict[str, Any], model: torch.nn.Module | None = None) -> torch.nn.Module:
    """The tiny test model (or ``model``) with adapter ``name`` applied under ``params``."""
    adapter = ADAPTERS.get(name)()
    return adapter.apply(model or tiny_model(), adapter.Params.model_validate(params), ApplyContext())


def train_and_record(model: torch.nn.Module, directory: Path, steps: int = 2) -> TrajectoryRecorder:
    """Update 0, then ``steps`` AdamW updates on a language-model loss, recording each."""
    recorder = TrajectoryRecorder(directory, every=1, base_reference="tiny-llama")
    recorder.record(model, 0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for update in range(1, steps + 1):
        loss = model(input_ids=INPUTS, labels=INPUTS).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        recorder.record(model, update)
    return recorder
