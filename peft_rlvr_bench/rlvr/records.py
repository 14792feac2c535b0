"""A run's per-update curve from the Trainer's logs: what a result keeps of each optimizer update."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from peft_rlvr_bench.reporting.results import StepRecord

LOGGED = {"reward": "reward_mean", "reward_std": "reward_std", "loss": "loss", "kl": "kl"}
"""TRL's log keys for the figures a run result keeps, under the result's names."""


def step_records(log_history: list[dict[str, Any]], step_seconds: Sequence[float | None]) -> list[StepRecord]:
    """TRL's per-step logs as result records (one per optimizer update)."""
    records: list[StepRecord] = []
    for entry in log_history:
        if "step" not in entry or not any(key in entry for key in LOGGED):
            continue
        step = int(entry["step"])
        fields = {name: float(entry[key]) for key, name in LOGGED.items() if key in entry}
        seconds = step_seconds[step - 1] if 0 < step <= len(step_seconds) else None
        records.append(StepRecord(step=step, step_seconds=seconds, **fields))
    return records
