"""A run's per-update curve from the Trainer's logs: what a result keeps of each optimizer update."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from peft_rlvr_bench.reporting.results import StepRecord

LOGGED = {"reward": "reward_mean", "reward_std": "reward_std", "loss": "loss", "kl": "kl"}
"""TRL's log keys for the figures a run result keeps, under the result's names; every other number
TRL logs for the update (completion lengths, entropy, clip ratios, ``frac_reward_zero_std``, the
importance-sampling ratios, ``grad_norm``, ...) is kept too, under TRL's own key."""

NOT_PER_UPDATE = ("epoch", "step", "step_time")
"""Log keys that count updates rather than describe one, and TRL's own wall time of the update,
which ``step_seconds`` already holds (measured the same way for every recipe)."""


def step_records(log_history: list[dict[str, Any]], step_seconds: Sequence[float | None]) -> list[StepRecord]:
    """TRL's per-step logs as result records (one per optimizer update)."""
    records: list[StepRecord] = []
    for entry in log_history:
        if "step" not in entry or not any(key in entry for key in LOGGED):
            continue
        step = int(entry["step"])
        fields = {name: _number(entry[key]) for key, name in LOGGED.items() if key in entry}
        diagnostics = {
            key: _number(value)
            for key, value in entry.items()
            if key not in LOGGED and key not in NOT_PER_UPDATE and _is_number(value)
        }
        seconds = step_seconds[step - 1] if 0 < step <= len(step_seconds) else None
        records.append(StepRecord(step=step, step_seconds=seconds, **fields, **diagnostics))
    return records


def _is_number(value: Any) -> bool:
    # TRL logs None for a metric whose every value was NaN this update; keep it as "not measured".
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _number(value: Any) -> float | None:
    return None if value is None else float(value)
