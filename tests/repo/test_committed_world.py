"""The committed world reproduces the committed base evaluation of the tiny suite.

Generic on purpose: it reads whatever ``results/tiny/base.json`` is committed and the eval spec of
``suites/tiny.yaml``, so it keeps holding when the results are regenerated. Greedy accuracies
must match exactly; sampled accuracies and answer NLLs within the tolerances of
``reporting.reproduce`` (how they were chosen: docs/reproducibility.md).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from peft_rlvr_bench.paths import lock_file
from peft_rlvr_bench.reporting.reproduce import NLL_TOLERANCE, SAMPLED_TOLERANCE
from peft_rlvr_bench.reporting.results import load_result
from peft_rlvr_bench.runner.execute import evaluate_base
from peft_rlvr_bench.suite import load_suite
from peft_rlvr_bench.world.artifact import committed_world_for, verify_world
from tests.helpers.paths import REPO


def test_the_committed_world_reproduces_the_committed_base_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRB_CACHE_DIR", str(tmp_path))  # no cached world can stand in for it
    suite = load_suite(REPO / "suites" / "tiny.yaml").spec
    committed = load_result(REPO / "results" / "tiny" / "base.json")
    assert committed.spec == suite.base_identity(), "base.json was made with the suite's model and eval spec"

    fresh = evaluate_base(suite)

    assert set(fresh.metrics) == set(committed.metrics)
    compared = 0
    for role, want in committed.metrics.items():
        got = fresh.metrics[role]
        assert set(got.tasks) == set(want.tasks), role
        for task, expected in want.tasks.items():
            actual = got.tasks[task]
            assert (actual.accuracy, actual.n) == (expected.accuracy, expected.n), f"{role}/{task} greedy"
            compared += 1
            for name in ("avg_at_k", "pass_at_k"):
                if getattr(expected, name) is not None:
                    assert getattr(actual, name) == pytest.approx(
                        getattr(expected, name), abs=SAMPLED_TOLERANCE
                    )
            if expected.nll is not None:
                assert actual.nll == pytest.approx(expected.nll, abs=NLL_TOLERANCE), f"{role}/{task} nll"
    assert compared >= 4

    # The fresh result names the world and the lock it was made with.
    world = committed_world_for(suite.model.world)
    assert world is not None and fresh.environment is not None
    assert fresh.environment.world["hash"] == verify_world(world.directory)
    if committed.environment is not None:
        assert committed.environment.world["hash"] == fresh.environment.world["hash"]
    lock = lock_file()
    assert lock is not None and fresh.environment.lock is not None
    assert fresh.environment.lock.sha256 == hashlib.sha256(lock.read_bytes()).hexdigest()
