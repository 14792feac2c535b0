"""Faults inside a run: divergence, raising or hanging verifiers, a full disk. Each ends one run
with a clear status and reason, or scores 0 and is counted; the suite and its results survive."""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from peft_rlvr_bench.registry import ADAPTERS, TASKS, VERIFIERS
from peft_rlvr_bench.reporting import results as results_module
from peft_rlvr_bench.reporting.results import save_result
from peft_rlvr_bench.rlvr.resilience import Diverged, DivergenceGuard
from peft_rlvr_bench.suite import load_suite
from peft_rlvr_bench.verifier_faults import call_with_timeout, counting_faults, guarded_verifier
from tests import hand_results

TINY_SUITE = """\
name: {name}
model: {{name: tiny}}
train_task: {task}
eval: {{in_domain: [{task}], n_items: 16, kl_items: 0, loss_items: 0}}
recipe: {{name: grpo, prompts_per_step: 2, num_generations: 4, beta: 0.0}}
budget: {{max_steps: {steps}}}
seeds: [0]
adapters:
{adapters}
"""


def tiny_suite(
    tmp_path: Path, adapters: list[str], task: str = "add", steps: int = 2, extra: str = ""
) -> Any:
    text = TINY_SUITE.format(
        name="faults", task=task, steps=steps, adapters="\n".join(f"  - {a}" for a in adapters)
    )
    path = tmp_path / "faults.yaml"
    path.write_text(text + extra)
    return load_suite(path)


@pytest.fixture
def outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Scratch outputs under tmp_path; weight geometry (seconds of SVDs, tested elsewhere) skipped."""
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))
    monkeypatch.setattr("peft_rlvr_bench.geometry.model.run_geometry", lambda w0, merged: None)
    return tmp_path / "outputs"


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


# Verifier faults -------------------------------------------------------------------------------

SLEEPERS = (5, 12)
"""Calls that hang past the timeout; every call i with i % 7 == 3 raises."""


@pytest.fixture
def flaky_task() -> Any:
    from peft_rlvr_bench.tasks.arithmetic import ADDITION
    from peft_rlvr_bench.verifiers import integer_match

    calls: list[int] = []

    def flaky(completion: str, answer: str) -> float:
        index = len(calls)
        calls.append(index)
        if index in SLEEPERS:
            time.sleep(1.0)
        elif index % 7 == 3:
            raise ValueError(f"cannot parse {completion!r}")
        return integer_match(completion, answer)

    VERIFIERS.register("test_flaky")(flaky)
    TASKS.register("test_flaky_add")(
        dataclasses.replace(ADDITION, name="test_flaky_add", verifier="test_flaky")
    )
    yield calls
    VERIFIERS._loaded.pop("test_flaky")
    TASKS._loaded.pop("test_flaky_add")


def test_raising_and_hanging_verifiers_score_0_and_are_counted(
    tmp_path: Path, outputs: Path, flaky_task: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft_rlvr_bench.runner.execute import execute_run

    monkeypatch.setenv("PRB_VERIFIER_TIMEOUT_S", "0.2")
    (run,) = tiny_suite(tmp_path, ["{name: lora, r: 2, lr: 1.0e-3}"], task="test_flaky_add").runs
    result = execute_run(run)
    assert result.status == "ok", result.reason
    calls = len(flaky_task)
    assert calls == 2 * 2 * 4 + 16, "RL rewards (updates x prompts x generations), then the eval items"
    raised = sum(1 for i in range(calls) if i % 7 == 3 and i not in SLEEPERS)
    faults = result.verifier_faults
    assert (faults["calls"], faults["exceptions"], faults["timeouts"]) == (calls, raised, len(SLEEPERS))
    assert faults["first_error"].startswith("test_flaky: ValueError: cannot parse")


def test_the_timeout_works_from_any_thread_and_non_finite_scores_count_as_faults() -> None:
    started = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(call_with_timeout, time.sleep, 5, timeout=0.1)
        with pytest.raises(TimeoutError, match=r"longer than 0\.1 s"):
            future.result()
    assert time.perf_counter() - started < 2
    assert threading.current_thread() is threading.main_thread()

    VERIFIERS.register("test_nan_score")(lambda completion, answer: float("nan"))
    try:
        with counting_faults() as faults:
            assert guarded_verifier("test_nan_score")("1", "1") == 0.0
            assert guarded_verifier("int_match")("12", "12") == 1.0
        assert (faults.calls, faults.exceptions, faults.timeouts) == (2, 1, 0)
    finally:
        VERIFIERS._loaded.pop("test_nan_score")


# A full disk -----------------------------------------------------------------------------------


def _no_space(path: Any, *args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def test_a_full_disk_fails_the_run_with_a_reason_naming_the_disk(
    tmp_path: Path, outputs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import safetensors.torch

    from peft_rlvr_bench.runner.execute import execute_run

    monkeypatch.setattr(safetensors.torch, "save_file", lambda tensors, path, **kw: _no_space(path))
    (run,) = tiny_suite(tmp_path, ["{name: full, lr: 1.0e-4}"], extra="trajectory: {every: 1}\n").runs
    result = execute_run(run)
    assert result.status == "failed"
    assert result.reason.startswith("disk full writing ") and "update_000000.safetensors" in result.reason
    assert "no space left on the device holding" in result.reason and "free space" in result.reason


def test_a_result_write_on_a_full_disk_leaves_the_previous_result_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft_rlvr_bench.cli import run_cli

    suite_dir = hand_results.write_suite(tmp_path, hand_results.base(), hand_results.runs()[:2])
    path = next((suite_dir / "runs").glob("*.json"))
    before = path.read_bytes()

    real_fdopen = results_module.os.fdopen

    class HalfWritten:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def __enter__(self) -> HalfWritten:
            return self

        def __exit__(self, *exc: Any) -> None:
            self.handle.close()

        def write(self, text: str) -> None:
            self.handle.write(text[: len(text) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(
        results_module.os, "fdopen", lambda fd, *a, **k: HalfWritten(real_fdopen(fd, *a, **k))
    )
    with pytest.raises(OSError, match="No space left"):
        save_result(hand_results.result("lora", 0, 0.9, 0.9, 0.9), path)
    assert path.read_bytes() == before and json.loads(before)
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == [], "no temporary left"
    code = run_cli(["leaderboard", "hand", "--results-dir", str(tmp_path)])
    assert code == 1
    assert path.read_bytes() == before


def test_the_cli_reports_a_full_disk_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from peft_rlvr_bench.cli import run_cli

    hand_results.write_suite(tmp_path, hand_results.base(), hand_results.runs()[:2])
    monkeypatch.setattr(results_module.os, "fdopen", lambda fd, *a, **k: _no_space("leaderboard.md"))
    assert run_cli(["leaderboard", "hand", "--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "disk full (no space left on device)" in err and "intact" in err


# Disk retention --------------------------------------------------------------------------------


def test_trajectory_keep_false_needs_no_extrapolation(tmp_path: Path) -> None:
    from peft_rlvr_bench.errors import UserError

    extra = "trajectory: {every: 1, keep: false}\nextrapolation:\n  - {name: relex, observe: 1, target: 2}\n"
    with pytest.raises(UserError, match=r"trajectory.keep: extrapolation reads the recorded trajectories"):
        tiny_suite(tmp_path, ["{name: full, lr: 1.0e-4}"], extra=extra)
    suite = tiny_suite(tmp_path, ["{name: full, lr: 1.0e-4}"], extra="trajectory: {every: 1, keep: false}\n")
    run = suite.runs[0]
    assert run.trajectory is not None and not run.trajectory.keep
    with_keep = tiny_suite(tmp_path, ["{name: full, lr: 1.0e-4}"], extra="trajectory: {every: 1}\n").runs[0]
    assert run.run_id == with_keep.run_id, "retention settings are not part of a run's identity"


def test_the_recorder_resumes_at_a_checkpoint_dropping_later_records(tmp_path: Path) -> None:
    from peft_rlvr_bench.trajectory import Trajectory, TrajectoryRecorder
    from tests.tiny_models import tiny_llama

    model = tiny_llama()
    w0 = {name: p.detach().clone() for name, p in model.named_parameters()}
    recorder = TrajectoryRecorder(tmp_path, 1, "base", background=False)
    for update in range(4):
        if update:
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.add_(0.01)
        recorder.record(model, update)
    (tmp_path / ".update_000004.safetensors.tmp").write_bytes(b"half")
    fresh = tiny_llama()  # the update-0 state, as a resumed run has before loading its checkpoint
    resumed = TrajectoryRecorder(tmp_path, 1, "base", background=False)
    assert resumed.resume(fresh, 2)
    assert Trajectory(tmp_path).updates == [0, 1, 2] and resumed.last_update == 2
    assert sorted(p.name for p in tmp_path.iterdir() if "update_" in p.name) == [
        f"update_00000{u}.safetensors" for u in range(3)
    ]
    with torch.no_grad():
        for p in fresh.parameters():
            p.add_(0.05)
    resumed.record(fresh, 3)
    delta = Trajectory(tmp_path).tensor("model.embed_tokens.weight", 3)
    torch.testing.assert_close(
        delta, fresh.model.embed_tokens.weight.detach() - w0["model.embed_tokens.weight"]
    )
    assert not TrajectoryRecorder(tmp_path, 2, "base").resume(fresh, 2), "another interval cannot continue"
