"""Verifier faults: a raising or hanging verifier scores 0 and is counted; the run goes on."""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.registry import TASKS, VERIFIERS
from peft_rlvr_bench.verifier_faults import call_with_timeout, counting_faults, guarded_verifier
from tests.helpers.suites import tiny_suite

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


# One round trip per reward call ---------------------------------------------------------------


def test_a_reward_call_costs_one_worker_round_trip_not_one_per_completion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from peft_rlvr_bench import verifier_faults
    from peft_rlvr_bench.rlvr.grpo import reward_function

    submitted: list[Any] = []
    submit = verifier_faults._POOL.submit

    def counting_submit(fn: Any, *args: Any) -> Any:
        submitted.append(fn)
        return submit(fn, *args)

    monkeypatch.setattr(verifier_faults._POOL, "submit", counting_submit)
    completions = [str(i) for i in range(32)]
    with counting_faults() as faults:
        scores = reward_function("int_match")(completions=completions, answer=["7"] * 32)
    assert scores == [1.0 if c == "7" else 0.0 for c in completions]
    assert len(submitted) == 1, "32 completions, one reward call: one hand-off to a worker thread"
    assert (faults.calls, faults.exceptions, faults.timeouts) == (32, 0, 0)


def test_in_a_batch_each_completion_keeps_its_own_timeout_and_faults_stay_per_completion() -> None:
    from peft_rlvr_bench.verifier_faults import guarded_batch_verifier

    calls: list[str] = []

    def slow_or_raising(completion: str, answer: str) -> float:
        calls.append(completion)
        if completion == "hang":
            time.sleep(1.0)
        if completion == "raise":
            raise ValueError("cannot parse")
        if completion == "inf":
            return float("inf")
        return float(completion == answer)

    VERIFIERS.register("test_batch_faults")(slow_or_raising)
    try:
        completions = ["1", "hang", "1", "raise", "hang", "inf", "2", "1"]
        started = time.perf_counter()
        with counting_faults() as faults:
            scores = guarded_batch_verifier("test_batch_faults", timeout=0.2)(completions, ["1"] * 8)
        elapsed = time.perf_counter() - started
        assert scores == [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
        assert (faults.calls, faults.exceptions, faults.timeouts) == (8, 2, 2)
        assert faults.first_error == "test_batch_faults: slow_or_raising took longer than 0.2 s"
        # Each hang costs its own 0.2 s, not the whole batch's and not the hang's full second.
        assert 0.35 < elapsed < 0.9, elapsed
        time.sleep(1.0)  # the stranded workers wake up: they must not score the batch's rest again
        assert calls == completions, "every completion scored exactly once, in order"
    finally:
        VERIFIERS._loaded.pop("test_batch_faults")


def test_what_is_not_a_verifier_fault_reaches_the_caller_at_once() -> None:
    from peft_rlvr_bench.verifier_faults import guarded_batch_verifier

    class Interrupted(BaseException):
        pass

    def interrupted(completion: str, answer: str) -> float:
        if completion == "stop":
            raise Interrupted
        return 1.0

    VERIFIERS.register("test_interrupted")(interrupted)
    try:
        started = time.perf_counter()
        with counting_faults() as faults, pytest.raises(Interrupted):
            guarded_batch_verifier("test_interrupted", timeout=5.0)(["1", "stop", "1"], ["1"] * 3)
        assert time.perf_counter() - started < 2, "not after the 5 s timeout"
        assert faults.calls == 0
    finally:
        VERIFIERS._loaded.pop("test_interrupted")
