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
