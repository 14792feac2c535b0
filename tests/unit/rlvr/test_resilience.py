"""Divergence: a non-finite weight, loss or gradient norm ends that run as diverged; the suite goes on."""

from __future__ import annotations

import io
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from peft_rlvr_bench.registry import ADAPTERS
from peft_rlvr_bench.rlvr.resilience import Diverged, DivergenceGuard
from tests.helpers.suites import tiny_suite

# Divergence ------------------------------------------------------------------------------------


@pytest.fixture
def nan_adapter() -> Any:
    """``full`` fine-tuning whose first weight turns NaN at update 2 (test-only)."""
    from transformers import TrainerCallback

    from peft_rlvr_bench.adapters import TrainingHooks
    from peft_rlvr_bench.adapters.full import FullFineTuning

    class InjectNaN(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **_: Any) -> None:
            if state.global_step == 2:
                with torch.no_grad():
                    next(model.parameters()).view(-1)[0] = float("nan")

    class NaNAtUpdate2(FullFineTuning):
        def hooks(self, model: Any, params: Any) -> TrainingHooks:
            return TrainingHooks(callbacks=[InjectNaN()])

    ADAPTERS.register("test_nan_at_2")(NaNAtUpdate2)
    yield NaNAtUpdate2
    ADAPTERS._loaded.pop("test_nan_at_2")


def test_a_nan_weight_stops_that_run_as_diverged_and_the_suite_goes_on(
    tmp_path: Path, outputs: Path, nan_adapter: Any
) -> None:
    from rich.console import Console

    from peft_rlvr_bench.reporting.leaderboard import write_leaderboard
    from peft_rlvr_bench.runner import run_suite

    suite = tiny_suite(
        tmp_path, ["{name: test_nan_at_2, lr: 1.0e-4}", "{name: lora, r: 2, lr: 1.0e-3}"], steps=3
    )
    outcome = run_suite(suite, tmp_path / "results", console=Console(file=io.StringIO()))
    diverged, ok = outcome.ran
    assert (diverged.status, ok.status) == ("diverged", "ok")
    assert diverged.divergence["update"] == 2
    assert diverged.divergence["quantity"] == "weight model.embed_tokens.weight"
    assert diverged.divergence["last_finite"]["step"] == 1
    assert [step.step for step in diverged.train_curve] == [1], "the finite updates before it"
    assert "at update 2" in diverged.reason and diverged.metrics == {}
    assert not (outputs / "faults" / diverged.run_id / "trainer").exists()
    board = write_leaderboard(tmp_path / "results" / "faults", "faults").markdown.read_text()
    assert f"`{diverged.run_id}`: diverged (weight model.embed_tokens.weight became nan at update 2" in board


def test_a_non_finite_logged_loss_or_grad_norm_diverges_with_the_last_finite_update() -> None:
    guard = DivergenceGuard()
    state = SimpleNamespace(global_step=1, max_steps=10, log_history=[{"loss": 0.5, "step": 1}])
    guard.on_log(None, state, None, logs={"loss": 0.5, "grad_norm": 1.0, "reward": 0.25})
    state.global_step = 2
    state.log_history.append({"loss": 0.4, "grad_norm": math.inf, "step": 2})
    with pytest.raises(Diverged, match="grad_norm became inf at update 2; last finite update 1") as info:
        guard.on_log(None, state, None, logs={"loss": 0.4, "grad_norm": math.inf})
    assert info.value.last_finite == {"step": 1, "loss": 0.5, "grad_norm": 1.0, "reward": 0.25}
    assert info.value.log_history == [{"loss": 0.5, "step": 1}]
