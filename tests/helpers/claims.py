"""Hand-made results of a claims suite: role scores, runs and the base."""

from __future__ import annotations

from typing import Any

from peft_rlvr_bench.reporting.results import RoleScore, RunResult, TaskScore


def role(score: float, items: list[float] | None = None) -> RoleScore:
    """One task's accuracy over 500 items (with per-item scores when ``items`` is given)."""
    task = TaskScore(accuracy=score, n=500, items=items, items_digest="d1" if items is not None else None)
    return RoleScore.from_tasks({"t": task})


def result(
    method: str,
    seed: int,
    in_domain: float,
    *,
    ood: float = 0.9,
    forgetting: float = 0.9,
    model: dict | None = None,
    **fields: Any,
) -> RunResult:
    """A finished claims-suite run of ``method`` at ``seed`` with these scores."""
    return RunResult(
        suite="claims",
        run_id=f"{method}-s{seed}",
        method=method,
        seed=seed,
        status="ok",
        spec={"model": model or {"name": "tiny"}, "adapter": {"lr": 1e-3}},
        metrics={"in_domain": role(in_domain), "out_of_domain": role(ood), "forgetting": role(forgetting)},
        **fields,
    )


BASE = RunResult(
    suite="claims",
    run_id="base",
    method="base",
    seed=None,
    status="ok",
    spec={"model": {"name": "tiny"}},
    metrics={"in_domain": role(0.5), "out_of_domain": role(0.6), "forgetting": role(0.95)},
)
"""The claims suite's base."""
