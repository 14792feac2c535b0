"""Re-grounding on a fake session that makes RL a known function, so its arithmetic is exact."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.extrapolation.regrounding import (
    Regrounding,
    RegroundingParams,
    jump_state,
    segment_plan,
)
from peft_rlvr_bench.suite import load_suite
from tests.helpers.sessions import FakeSession, linear_path

# --- regrounding ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "jump", "target", "expected"),
    [
        (10, 10, 100, [("train", 10), ("jump", 10)] * 5),
        (10, 20, 45, [("train", 10), ("jump", 20), ("train", 10), ("jump", 5)]),
        (20, 100, 50, [("train", 20), ("jump", 30)]),
        (30, 10, 25, [("train", 25)]),
    ],
)
def test_segment_plan_alternates_and_stops_exactly_at_the_target(real, jump, target, expected) -> None:
    plan = segment_plan(real, jump, target)
    assert plan == expected
    assert sum(length for _, length in plan) == target


def test_a_jump_is_the_two_point_line_and_copies_norms_from_the_segment_end() -> None:
    start = {"w": torch.tensor([[1.0, 2.0]]), "norm": torch.tensor([1.0, 1.0]), "frozen": torch.ones(2, 2)}
    end = {"w": torch.tensor([[2.0, 1.0]]), "norm": torch.tensor([1.5, 0.5]), "frozen": start["frozen"]}
    jumped = jump_state(start, end, real=10, jump=20)
    torch.testing.assert_close(jumped["w"], torch.tensor([[4.0, -1.0]]))  # end + 2 * (end - start)
    torch.testing.assert_close(jumped["norm"], end["norm"])
    assert jumped["frozen"] is end["frozen"]


def test_regrounding_follows_a_linear_path_exactly_and_counts_only_real_updates() -> None:
    path, velocity = linear_path()
    session = FakeSession(path, recorded=[0, 10], velocity=velocity)
    outcome = Regrounding().run(session, observe=10, target=100, params=RegroundingParams(jump=20))
    torch.testing.assert_close(outcome.state["layer.weight"], path(100)["layer.weight"])
    # train 10 (the source's), jump 20, then three trained segments of 10 with jumps between.
    assert session.trained == [(10, 2), (10, 4), (10, 6)]
    assert outcome.updates_used == 40
    assert outcome.details["plan"][:3] == [["train", 10], ["jump", 20], ["train", 10]]


def test_regrounding_without_real_progress_does_not_drift() -> None:
    """When segments learn nothing, a jump from a segment's start to its end moves nothing: the
    jump re-grounds on the segment just trained, not on the source's first direction."""
    path, _ = linear_path()
    session = FakeSession(path, recorded=[0, 10])
    outcome = Regrounding().run(session, observe=10, target=60, params=RegroundingParams(jump=10))
    # first jump extends the source's 10 updates by 10; later segments and jumps stay there.
    torch.testing.assert_close(outcome.state["layer.weight"], path(20)["layer.weight"])


def test_regrounding_needs_its_first_segment_recorded() -> None:
    with pytest.raises(ValueError, match=r"multiple of trajectory\.every"):
        Regrounding().validate(observe=12, target=100, every=5, params=RegroundingParams(jump=10))


def test_a_suite_with_a_window_off_the_recording_grid_is_one_line_error(tmp_path: Path) -> None:
    text = (Path("suites") / "smoke.yaml").read_text()
    text = text.replace("every: 1 ", "every: 2 ").replace(
        "  - {name: relex, observe: 2, target: 3}", "  - {name: regrounding, observe: 3, target: 6, jump: 1}"
    )
    text = text.replace("max_steps: 3", "max_steps: 6")
    suite = tmp_path / "bad.yaml"
    suite.write_text(text)
    with pytest.raises(UserError, match=r"bad.yaml:\d+: extrapolation.0: observe \(3\) must be a multiple"):
        load_suite(suite)
