"""The smoke suite's trained runs still give the recorded per-update reward, loss and weight movement.

A TRL, transformers or torch upgrade that changes what GRPO samples, rewards or logs shows here
before it shows in a leaderboard. Exact on the processor family and thread count the golden was
recorded with; within its measured tolerance on another processor (``tests/golden/smoke.json``,
``docs/reproducibility.md``). ``make golden`` re-records it after a deliberate change of the world,
the lock or the training path.
"""

from __future__ import annotations

import math

import pytest

from peft_rlvr_bench.suite import load_suite
from tests.golden.smoke_curve import (
    FIELDS,
    SUITE,
    Curves,
    deviations,
    load,
    processor_family,
    smoke_curves,
    stack,
    tolerances,
)

RERECORD = "if the change is deliberate, re-record with `make golden` (tests/golden/smoke_curve.py)"


def test_the_golden_was_recorded_for_this_world_and_lock() -> None:
    golden, here = load(), stack()
    assert golden["world_hash"] == here["world_hash"], f"the tiny world changed; {RERECORD}"
    assert golden["lock_sha256"] == here["lock_sha256"], f"requirements/cpu.txt changed; {RERECORD}"


def test_the_tolerance_is_the_recorded_rule_applied_to_the_measured_moves() -> None:
    golden = load()
    assert set(golden["measured_moves"]) == {
        "2 torch threads",
        "every weight one ulp up",
        "every weight one ulp down",
    }
    assert golden["tolerance"] == tolerances(golden["measured_moves"])


@pytest.fixture(scope="module")
def curves(tmp_path_factory: pytest.TempPathFactory) -> Curves:
    golden = load()
    if (golden["world_hash"], golden["lock_sha256"]) != tuple(
        stack()[k] for k in ("world_hash", "lock_sha256")
    ):
        pytest.fail(f"the golden was recorded for another world or lock; {RERECORD}")
    found = smoke_curves(tmp_path_factory.mktemp("golden") / "outputs", threads=golden["torch_threads"])
    updates = load_suite(SUITE).runs[0].budget.max_steps
    assert set(found) == set(golden["curves"]) and all(len(points) == updates for points in found.values())
    return found


def test_on_the_recording_processor_the_curves_are_exactly_the_golden_ones(curves: Curves) -> None:
    golden = load()
    if processor_family() != golden["processor"]:
        pytest.skip(f"recorded on {golden['processor']}, this is {processor_family()}: the tolerance applies")
    moves = deviations(golden["curves"], curves)
    assert curves == golden["curves"], (
        f"the smoke curves moved by {moves} on the recording processor; {RERECORD}"
    )


def test_anywhere_the_curves_are_within_the_measured_tolerance(curves: Curves) -> None:
    golden = load()
    moves = deviations(golden["curves"], curves)
    beyond = {name: moves[name] for name in FIELDS if moves[name] > golden["tolerance"][name]}
    assert not beyond, f"moved beyond the tolerance {golden['tolerance']}: {beyond}; {RERECORD}"


def test_deviations_see_a_moved_figure_a_missing_update_and_a_missing_figure() -> None:
    point = {"step": 1, "reward_mean": 0.5, "reward_std": 0.1, "loss": 0.2, "kl": None, "update_norm": 0.25}
    reference = {"full": [point]}
    moved = {"full": [{**point, "reward_mean": 0.625, "update_norm": 0.5}]}
    assert deviations(reference, reference) == dict.fromkeys(FIELDS, 0.0)
    assert deviations(reference, moved) == {
        **dict.fromkeys(FIELDS, 0.0),
        "reward_mean": 0.125,
        "update_norm": 0.25,
    }
    assert all(math.isinf(v) for v in deviations(reference, {"full": []}).values())
    logged_kl = {"full": [{**reference["full"][0], "kl": 0.0}]}
    assert math.isinf(deviations(reference, logged_kl)["kl"])
