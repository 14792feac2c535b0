"""The selection record: each candidate's score and interval, the fixed rule, the page."""

from __future__ import annotations

import pytest

from peft_rlvr_bench.reporting.results import RoleScore, RunResult, TaskScore
from peft_rlvr_bench.reporting.selection import RULE, SelectionRecord, candidate, choose, selection_markdown
from peft_rlvr_bench.reporting.stats.intervals import crossed_interval


def _result(seed: int, items: list[float], status: str = "ok") -> RunResult:
    task = TaskScore(accuracy=sum(items) / len(items), n=len(items), items=items, items_digest="d")
    metrics = {"in_domain": RoleScore.from_tasks({"add": task})} if status == "ok" else {}
    return RunResult(
        suite="s", run_id=f"c-s{seed}", method="c", seed=seed, status=status, metrics=metrics, spec={}
    )


def test_a_candidate_is_its_mean_over_seeds_with_the_seeds_x_items_interval() -> None:
    results = [_result(100, [1, 0, 1, 1]), _result(101, [0, 0, 1, 1])]
    item = candidate("lora-lr1e-3", {"lr": 1e-3}, results)
    assert item.score == pytest.approx((0.75 + 0.5) / 2)
    assert item.per_seed == [0.75, 0.5] and item.seeds == [100, 101]
    import numpy as np

    expected = crossed_interval([np.array([[1, 0, 1, 1], [0, 0, 1, 1]], dtype=float)])
    assert (item.low, item.high, item.interval) == (
        pytest.approx(expected.low),
        pytest.approx(expected.high),
        "seeds x items",
    )


def test_a_candidate_with_a_failed_seed_has_no_score_and_cannot_win() -> None:
    failed = candidate("a", {"lr": 1e-4}, [_result(100, [1, 1]), _result(101, [0], status="failed")])
    assert failed.score is None and failed.status == ["ok", "failed"]
    other = candidate("b", {"lr": 3e-4}, [_result(100, [0, 1]), _result(101, [0, 1])])
    assert choose([failed, other]) == 1
    assert choose([failed]) is None


def test_the_highest_mean_wins_and_a_tie_goes_to_the_lower_value() -> None:
    low = candidate("lr1e-4", {"lr": 1e-4}, [_result(100, [1, 0])])
    high = candidate("lr3e-4", {"lr": 3e-4}, [_result(100, [0, 1])])
    best = candidate("lr1e-3", {"lr": 1e-3}, [_result(100, [1, 1])])
    assert choose([high, low]) == 1  # equal means: the lower rate, whatever the order
    assert choose([low, high]) == 0
    assert choose([low, best, high]) == 1


def test_the_page_shows_the_rule_the_evidence_and_the_winner() -> None:
    items = [
        candidate(f"lora-lr{lr:g}", {"lr": lr}, [_result(100, acc)])
        for lr, acc in ((1e-4, [0, 1]), (1e-3, [1, 1]))
    ]
    record = SelectionRecord.model_validate(
        {
            "suite": "s",
            "metric": "in_domain",
            "tasks": ["add"],
            "split": "validation",
            "items": 2,
            "seeds": [100],
            "max_steps": 5,
            "entries": [
                {
                    "index": 0,
                    "label": "lora",
                    "fields": ["lr"],
                    "chosen": {"lr": 1e-3},
                    "chosen_label": "lora-lr0.001",
                    "candidates": items,
                }
            ],
        }
    )
    page = selection_markdown(record)
    assert RULE in page
    assert "## lora: lr = 0.001" in page
    assert "| **0.001** | **1.000** |" in page
    assert "| 0.0001 | 0.500 |" in page
    assert "`c-s100`" in page


def test_a_choice_at_the_edge_of_its_grid_is_flagged() -> None:
    from peft_rlvr_bench.reporting.selection import grid_edges

    grid = [candidate(f"lr{lr:g}", {"lr": lr}, [_result(100, [1, 0])]) for lr in (1e-4, 3e-4, 1e-3)]
    assert grid_edges(grid, {"lr": 1e-3}) == ["top of lr"]
    assert grid_edges(grid, {"lr": 1e-4}) == ["bottom of lr"]
    assert grid_edges(grid, {"lr": 3e-4}) == []
    assert grid_edges(grid[:1], {"lr": 1e-4}) == [], "one value is no grid"
