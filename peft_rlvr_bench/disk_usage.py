"""Disk a trained run writes, estimated from its spec and the model's parameter count (offline).

What a run leaves under ``$PRB_OUTPUTS_DIR/<suite>/<run_id>/`` (``paths.py``):

- **trajectory**: one record per recorded update (update 0, every ``trajectory.every``, every
  one up to ``dense_until``, and the last), each the trainable tensors in fp32: a PEFT adapter's
  factors, or for full and sparse runs the delta ``W_t - W0`` of every trainable tensor (a sparse
  run's tensors are whole, its mask only decides what moves), ``4 x trainable`` bytes a record;
- **final**: the trained checkpoint, fp32: the whole model for full and sparse runs, the adapter
  for PEFT runs (twice for residual methods, which also keep the initial adapter);
- **trainer checkpoints** (suites with ``checkpoint:``, up to ``keep`` at once, removed when the
  result is written): trainable weights and AdamW's two moments, ``12 x trainable`` bytes each,
  plus the whole model for full and sparse runs.

Derived runs write their predicted checkpoint in a temporary directory and add nothing lasting;
evaluation with vLLM writes the merged model to a scratch directory (the whole model, fp32) and
removes it after each evaluation. The figures are sizes of the tensors; safetensors' headers and
the JSON beside them are small.
"""

from __future__ import annotations

from dataclasses import dataclass

FP32 = 4


@dataclass(frozen=True)
class RunDisk:
    """Bytes by kind; ``lasting`` stays after the run, ``peak`` is the most on disk at once."""

    trajectory: int
    final: int
    checkpoints: int

    @property
    def lasting(self) -> int:
        return self.trajectory + self.final

    @property
    def peak(self) -> int:
        return self.trajectory + self.final + self.checkpoints


def recorded_updates(max_steps: int, every: int | None, dense_until: int | None = None) -> int:
    """Trajectory records of a run: update 0, every ``every``-th, every one up to ``dense_until``,
    and the last (none without a trajectory)."""
    if every is None:
        return 0
    dense = set(range(0, min(dense_until or 0, max_steps) + 1))
    return len(set(range(0, max_steps + 1, every)) | dense | {max_steps})


def run_disk(
    *,
    total_params: int,
    trainable: int | None,
    max_steps: int,
    trajectory_every: int | None,
    checkpoint_keep: int | None,
    rewrites_base: bool,
    dense_until: int | None = None,
) -> RunDisk:
    """The estimate for one trained run; ``trainable`` None means a whole-model run (full, or a
    sparse mask whose size is known only once built: its tensors are recorded whole)."""
    whole = trainable is None or trainable >= total_params
    recorded = total_params if whole else trainable
    record = FP32 * recorded
    final = FP32 * total_params if whole else FP32 * recorded * (2 if rewrites_base else 1)
    checkpoint = 3 * FP32 * recorded + (FP32 * total_params if whole else 0)
    return RunDisk(
        trajectory=record * recorded_updates(max_steps, trajectory_every, dense_until),
        final=final,
        checkpoints=checkpoint * (checkpoint_keep or 0),
    )
