"""Trainer callbacks shared by the world build (SFT) and RL runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback

from peft_rlvr_bench.console import report_live


class StepTimer(TrainerCallback):
    """Wall time of each optimizer update, rollouts included; tells ``on_update`` of each."""

    def __init__(self, on_update: Callable[[int], None] | None = None) -> None:
        self.seconds: list[float | None] = []
        self._start = 0.0
        self._on_update = on_update

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        # A run resumed from a checkpoint did its earlier updates in another process: unknown.
        self.seconds.extend([None] * (state.global_step - 1 - len(self.seconds)))
        self.seconds.append(time.perf_counter() - self._start)
        if self._on_update is not None:
            self._on_update(state.global_step)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        # TRL's GRPO logs the batch's mean reward under "reward"; the progress bar shows it.
        if logs and isinstance(logs.get("reward"), int | float):
            report_live("reward", float(logs["reward"]))
