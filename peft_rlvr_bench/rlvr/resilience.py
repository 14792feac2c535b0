"""What keeps a run trustworthy when things go wrong: resumable checkpoints and a divergence guard.

- **Checkpoints** (``checkpoint: {every: N, keep: K}`` in a suite): the Trainer saves model,
  optimizer, scheduler, RNG states and its log every N updates, keeping the newest K. A killed run
  resumes from the newest complete one with ``trainer.train(resume_from_checkpoint=...)``; the
  Trainer restores the RNG states, so on a CPU the resumed run ends bitwise where an
  uninterrupted one does (tests/e2e/test_resume.py kills real runs to check it).
- **Divergence**: a NaN or inf in the logged loss or gradient norm, or in a trainable weight,
  stops the run with ``Diverged``, which the runner turns into status ``diverged`` with the
  update and the last finite metrics. Weights are checked after every update (one fused
  reduction over the trainable tensors), before the next rollout samples from them.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from peft_rlvr_bench.crashpoints import crash_point
from peft_rlvr_bench.rlvr.records import step_records
from peft_rlvr_bench.verifier_faults import active_counter

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
FAULTS_FILE = "prb_verifier_faults.json"
"""The verifier-fault counts of the updates a checkpoint holds, so a resumed run's add up."""


def checkpoint_fields(spec: Any) -> dict[str, Any]:
    """Trainer arguments for the run's checkpoint setting (none: no checkpoints, as before)."""
    if spec.checkpoint is None:
        return {"save_strategy": "no"}
    return {
        "save_strategy": "steps",
        "save_steps": spec.checkpoint.every,
        "save_total_limit": spec.checkpoint.keep,
        "save_only_model": False,  # optimizer, scheduler and RNG states: what resuming needs
    }


def checkpoint_step(path: Path) -> int:
    match = _CHECKPOINT.match(path.name)
    if match is None:
        raise ValueError(f"{path}: not a trainer checkpoint directory (checkpoint-N)")
    return int(match.group(1))


def last_complete_checkpoint(output_dir: Path) -> Path | None:
    """The newest ``checkpoint-N`` whose trainer state was written whole: the Trainer writes
    ``trainer_state.json`` after the weights, optimizer and RNG states, so a checkpoint cut short
    by a kill has none, or a truncated one, and is passed over."""
    candidates = sorted(
        (p for p in output_dir.glob("checkpoint-*") if _CHECKPOINT.match(p.name) and p.is_dir()),
        key=checkpoint_step,
        reverse=True,
    )
    for path in candidates:
        try:
            state = json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            continue
        if state.get("global_step") == checkpoint_step(path):
            return path
    return None


def restore_fault_counts(checkpoint: Path) -> None:
    """Adds the verifier-fault counts saved with ``checkpoint`` to the active counter."""
    counter = active_counter()
    path = checkpoint / FAULTS_FILE
    if counter is not None and path.is_file():
        counter.add(json.loads(path.read_text()))


class CheckpointExtras(TrainerCallback):
    """Saves the verifier-fault counts with each checkpoint; hosts the test-only crash point."""

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        crash_point(f"train:{state.global_step}")

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        counter = active_counter()
        directory = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if counter is not None and directory.is_dir() and state.is_world_process_zero:
            (directory / FAULTS_FILE).write_text(json.dumps(counter.as_dict()))


class Diverged(Exception):
    """Training produced a non-finite loss, gradient norm or weight at ``update``."""

    def __init__(self, update: int, quantity: str, value: float, last_finite: dict[str, Any] | None) -> None:
        self.update = update
        self.quantity = quantity
        self.value = value
        self.last_finite = last_finite
        self.log_history: list[dict[str, Any]] = []
        """The Trainer's logs of the updates before ``update`` (every one finite)."""
        self.curve: list[Any] = []
        """Those logs as the result's StepRecords (set by the training function)."""
        self.train_config: dict[str, Any] | None = None
        """The TRL config the run trained with (set by the training path)."""
        after = (
            f"; last finite update {last_finite['step']}" if last_finite else "; no finite update before it"
        )
        super().__init__(f"{quantity} became {value} at update {update}{after}")

    def details(self) -> dict[str, Any]:
        return {
            "update": self.update,
            "quantity": self.quantity,
            "value": str(self.value),
            "last_finite": self.last_finite,
        }


_GUARDED_LOGS = ("loss", "grad_norm")


class DivergenceGuard(TrainerCallback):
    """Raises ``Diverged`` at the first non-finite logged loss or gradient norm, or trainable weight.

    ``weights_every``: updates between weight checks (and after the last update). Every update by
    default: the check is one reduction over the trainable tensors, and a NaN weight must be
    caught before the next rollout samples from it (sampling from NaN logits fails in torch).
    """

    def __init__(self, weights_every: int = 1) -> None:
        self.weights_every = weights_every
        self.last_finite: dict[str, Any] | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for entry in state.log_history:  # a resumed run's earlier updates
            self._remember(entry.get("step", 0), entry)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        logs = logs or {}
        for key in _GUARDED_LOGS:
            value = logs.get(key)
            if isinstance(value, int | float) and not math.isfinite(value):
                self._raise(state, key, float(value))
        self._remember(state.global_step, logs)

    def _remember(self, step: int, logs: dict[str, Any]) -> None:
        if any(key in logs for key in _GUARDED_LOGS):
            self.last_finite = {
                "step": step,
                **{k: logs[k] for k in ("loss", "grad_norm", "reward", "kl") if k in logs},
            }

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = state.global_step
        if step % self.weights_every and step < state.max_steps:
            return
        model = kwargs.get("model")
        if model is None:
            return
        trainable = [p for p in model.parameters() if p.requires_grad]
        if not trainable:
            return
        with torch.no_grad():
            # amax/amin are NaN or inf exactly when the tensor holds one: a pass each without
            # isfinite's bool copy (12x faster per tensor on a CPU; benchmarks/RESULTS.md).
            bounds = [bound for p in trainable if p.numel() for bound in (p.amax(), p.amin())]
            finite = torch.stack(bounds).isfinite().all() if bounds else True
        if not bool(finite):
            name = next(
                n for n, p in model.named_parameters() if p.requires_grad and not torch.isfinite(p).all()
            )
            self._raise(state, f"weight {name}", float("nan"))

    def _raise(self, state: Any, quantity: str, value: float) -> None:
        error = Diverged(state.global_step, quantity, value, self.last_finite)
        error.log_history = [entry for entry in state.log_history if entry.get("step", 0) < state.global_step]
        raise error


def guard_callbacks() -> list[TrainerCallback]:
    """The callbacks every training function adds last, after the adapter's and the recorder's."""
    return [DivergenceGuard(), CheckpointExtras()]


def train_resumably(trainer: Any, step_seconds: list[float | None], resume_from: Path | None) -> list[Any]:
    """``trainer.train()``, from ``resume_from`` when given, and the per-update curve.

    A divergence re-raises with the curve of its finite updates attached.
    """
    if resume_from is not None:
        restore_fault_counts(resume_from)
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
    except Diverged as diverged:
        diverged.curve = step_records(diverged.log_history, step_seconds)
        raise
    return step_records(trainer.state.log_history, step_seconds)
