"""Controls on the leaderboard: a negative control must not separate, a positive one must, and
control arms never compete for ★ (``reporting/controls.py``)."""

from __future__ import annotations

import pytest

from peft_rlvr_bench.reporting.leaderboard import build_leaderboard
from peft_rlvr_bench.reporting.markdown import render_markdown
from peft_rlvr_bench.reporting.results import RunResult
from tests.helpers.hand_results import base, result


def _arm(
    method: str, seeds: list[int], scores: list[float], control: dict[str, str] | None = None
) -> list[RunResult]:
    runs = []
    for seed, score in zip(seeds, scores, strict=True):
        run = result(method, seed, score, 0.5, 0.8)
        if control is not None:
            run = run.model_copy(
                update={"spec": {"adapter": {"name": method, "lr": 1e-3, "control": control}}}
            )
        runs.append(run)
    return runs


LORA = [0.40, 0.42, 0.39, 0.41, 0.43]


def test_a_twin_on_disjoint_seeds_is_paired_in_seed_order_and_not_separated() -> None:
    runs = _arm("lora", [0, 1, 2, 3, 4], LORA) + _arm(
        "lora-twin", [5, 6, 7, 8, 9], [0.41, 0.40, 0.42, 0.40, 0.42], {"kind": "negative", "against": "lora"}
    )
    (control,) = build_leaderboard("s", base(), runs).controls
    assert (control.arm, control.against, control.kind, control.pairing) == (
        "lora-twin",
        "lora",
        "negative",
        "seed order",
    )
    assert control.paired.n == 5
    # lora minus twin, position by position: -0.01, 0.02, -0.03, 0.01, 0.01.
    assert control.paired.difference == pytest.approx(0.0)
    assert not control.separated and control.as_expected


def test_a_known_worse_arm_is_separated_in_the_right_direction() -> None:
    worse = [0.30, 0.33, 0.29, 0.30, 0.34]
    runs = _arm("lora", [0, 1, 2, 3, 4], LORA) + _arm(
        "lora-q", [0, 1, 2, 3, 4], worse, {"kind": "positive", "against": "lora"}
    )
    (control,) = build_leaderboard("s", base(), runs).controls
    assert control.pairing == "shared seeds"
    assert control.paired.difference == pytest.approx(0.098)
    assert control.separated and control.as_expected
    # The same arm labelled as better than it is fails the control: separated, but the wrong way.
    flipped = _arm("lora", [0, 1, 2, 3, 4], worse) + _arm(
        "lora-q", [0, 1, 2, 3, 4], LORA, {"kind": "positive", "against": "lora"}
    )
    (control,) = build_leaderboard("s", base(), flipped).controls
    assert control.separated and not control.as_expected


def test_control_arms_stay_out_of_the_best_method_family_and_show_in_their_own_table() -> None:
    runs = (
        _arm("lora", [0, 1, 2, 3, 4], LORA)
        + _arm("full", [0, 1, 2, 3, 4], [0.30, 0.31, 0.29, 0.30, 0.32])
        # Higher than every real arm: it would take ★ if it competed.
        + _arm(
            "lora-twin",
            [5, 6, 7, 8, 9],
            [0.60, 0.61, 0.62, 0.60, 0.61],
            {"kind": "negative", "against": "lora"},
        )
    )
    board = build_leaderboard("s", base(), runs)
    assert board.verdict.top == "lora" and board.verdict.family == 1
    (control,) = board.controls
    assert control.separated and not control.as_expected
    page = render_markdown(board)
    assert "| lora-twin | lora | negative" in page and "**not as expected**" in page
