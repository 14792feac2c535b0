"""Benchmark: what trajectory recording costs a GRPO run in the tiny world (issue 4's target:
under 5% of step time, and bytes per record about the trainable bytes).

Each case times the same GRPO run (the smoke suite's recipe, ``UPDATES`` updates), with a
record after every update or with none; the wall-time ratio is the two means of one group,
measured side by side in one session, and includes the background writer's competition for
the two cores. A recording case also times what each record costs the training thread (the
copy and the queueing) against the mean update time the trainer logged (rollouts included);
the run's wall time also holds model loading and trainer construction, which dilute the ratio.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.adapters import ApplyContext
from peft_rlvr_bench.models import load_base, model_location
from peft_rlvr_bench.registry import ADAPTERS
from peft_rlvr_bench.rlvr.train import run_recipe
from peft_rlvr_bench.suite import Budget, load_suite
from peft_rlvr_bench.trajectory import TrajectoryRecorder

REPO = Path(__file__).resolve().parents[1]
UPDATES = 20


class TimedRecorder(TrajectoryRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.record_seconds: list[float] = []

    def take(self, model: Any, update: int) -> Path:
        """The training thread's share: the copy and the queueing (the write runs beside training)."""
        started = time.perf_counter()
        path = super().take(model, update)
        self.record_seconds.append(time.perf_counter() - started)
        return path


def _run(adapter_name: str, record: bool | None, out: Path) -> dict[str, Any]:
    """``record``: None records nothing; False writes each record inline; True in the background."""
    from transformers import set_seed

    spec = next(r for r in load_suite(REPO / "suites" / "smoke.yaml").runs if r.adapter.name == adapter_name)
    spec = spec.model_copy(update={"budget": Budget(max_steps=UPDATES)})
    set_seed(spec.seed)
    model, tokenizer = load_base(spec.model)
    adapter = ADAPTERS.get(spec.adapter.name)()
    params = adapter.Params.model_validate(spec.adapter.params)
    model = adapter.apply(model, params, ApplyContext(seed=spec.seed, total_updates=UPDATES))
    recorder = (
        TimedRecorder(out / "trajectory", 1, model_location(spec.model), background=record)
        if record is not None
        else None
    )
    curve, _ = run_recipe(spec, model, tokenizer, out / "trainer", callbacks=[recorder] if recorder else [])
    return {"recorder": recorder, "step_seconds": [s.step_seconds for s in curve if s.step_seconds]}


@pytest.mark.parametrize("adapter_name", ["full", "lora"])
@pytest.mark.parametrize(
    "record", [None, False, True], ids=["no-recording", "every-update-inline", "every-update-background"]
)
def test_grpo_run_with_and_without_recording(
    benchmark, tmp_path: Path, adapter_name: str, record: bool | None
) -> None:
    benchmark.group = f"trajectory recording, {adapter_name}, {UPDATES} GRPO updates"
    rounds = iter(range(100))
    outcome = benchmark.pedantic(
        lambda: _run(adapter_name, record, tmp_path / f"round{next(rounds)}"), rounds=5, iterations=1
    )
    steps = outcome["step_seconds"]
    benchmark.extra_info["mean_update_seconds"] = sum(steps) / len(steps)
    recorder = outcome["recorder"]
    if recorder is None:
        return
    manifest = recorder.manifest
    mean_record = sum(recorder.record_seconds) / len(recorder.record_seconds)
    benchmark.extra_info["mean_record_seconds"] = mean_record
    benchmark.extra_info["record_over_update"] = mean_record / benchmark.extra_info["mean_update_seconds"]
    benchmark.extra_info["trainable_bytes"] = manifest.trainable_bytes
    benchmark.extra_info["mean_record_bytes"] = sum(r.bytes for r in manifest.records) / len(manifest.records)
    benchmark.extra_info["bytes_ratio"] = benchmark.extra_info["mean_record_bytes"] / manifest.trainable_bytes
