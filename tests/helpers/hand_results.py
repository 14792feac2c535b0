"""Hand-made run results with known answers, shared by the leaderboard, HTML and compare tests,
and the leaderboard columns they expect."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from peft_rlvr_bench.reporting.board import Leaderboard, Row
from peft_rlvr_bench.reporting.leaderboard import build_leaderboard
from peft_rlvr_bench.reporting.results import (
    RoleScore,
    RunResult,
    TaskScore,
    base_result_path,
    run_result_path,
    save_result,
)

SUITE = "hand"


def role(score: float) -> RoleScore:
    return RoleScore.from_tasks({"task": TaskScore(accuracy=score, n=100)})


def result(
    method: str,
    seed: int | None,
    in_domain: float,
    out_of_domain: float,
    forgetting: float,
    *,
    suite: str = SUITE,
    status: str = "ok",
    reason: str | None = None,
    lr: float | None = 1e-3,
    trainable_params: int = 662_400,
    train_seconds: float = 10.0,
) -> RunResult:
    adapter: dict[str, object] = {"name": method}
    if lr is not None:
        adapter["lr"] = lr
    return RunResult(
        suite=suite,
        run_id=f"{method}-s{seed}",
        method=method,
        seed=seed,
        status=status,
        reason=reason,
        spec={"adapter": adapter},
        metrics={
            "in_domain": role(in_domain),
            "out_of_domain": role(out_of_domain),
            "forgetting": role(forgetting),
        },
        trainable_params=trainable_params,
        timings={"train": train_seconds} if method != "base" else {},
    )


def base(suite: str = SUITE) -> RunResult:
    return result("base", None, 0.25, 0.3, 0.8, suite=suite, lr=None, trainable_params=0)


def runs() -> list[RunResult]:
    """lora (3 seeds), pissa (2 ok seeds, one diverged) and full (failed)."""
    return [
        result("lora", 0, 0.5, 0.40, 0.78, train_seconds=10.0),
        result("lora", 1, 0.6, 0.45, 0.75, train_seconds=12.0),
        result("lora", 2, 0.7, 0.50, 0.72, train_seconds=14.0),
        result("pissa", 0, 0.8, 0.60, 0.70, lr=2e-4, trainable_params=1_200_000),
        result("pissa", 1, 0.8, 0.60, 0.70, lr=2e-4, trainable_params=1_200_000),
        result("pissa", 2, 0.0, 0.0, 0.0, status="diverged", reason="reward collapsed\nat step 40"),
        result("full", 0, 0.1, 0.1, 0.1, status="failed", reason="CUDA out of memory"),
    ]


def seeded(
    method: str, in_domain: Sequence[float], *, suite: str = SUITE, **kwargs: object
) -> list[RunResult]:
    """One ok run per seed 0, 1, ... with the given in-domain scores (other scores fixed)."""
    return [
        result(method, seed, score, 0.5, 0.7, suite=suite, **kwargs) for seed, score in enumerate(in_domain)
    ]


def write_suite(
    root: Path, base_result: RunResult | None, results: Sequence[RunResult], suite: str = SUITE
) -> Path:
    if base_result is not None:
        save_result(base_result, base_result_path(root, suite))
    for run in results:
        save_result(run, run_result_path(root, suite, run.run_id))
    return root / suite


def hand_board(base_result: RunResult | None = None, results: list[RunResult] | None = None) -> Leaderboard:
    """The leaderboard of ``base()`` and ``runs()`` unless others are given."""
    return build_leaderboard(
        SUITE, base() if base_result is None else base_result, runs() if results is None else results
    )


def rows_by_method(rows: Sequence[Row]) -> dict[str, Row]:
    """A leaderboard's rows by their method."""
    return {row.method: row for row in rows}


CI_SUFFIXES = ("ci_low", "ci_high", "ci_kind", "pi_low", "pi_high")
CORE_CSV = (
    "method",
    "n_seeds",
    "best",
    "in_domain",
    *(f"in_domain_{suffix}" for suffix in CI_SUFFIXES),
    "out_of_domain",
    *(f"out_of_domain_{suffix}" for suffix in CI_SUFFIXES),
    "forgetting",
    *(f"forgetting_{suffix}" for suffix in CI_SUFFIXES),
    "trainable_params",
    "learning_rate",
    "train_seconds",
    "updates",
)
"""The leaderboard CSV's columns every suite has, in order."""
COMPARISON_CSV = (
    "vs_top_diff",
    "vs_top_ci_low",
    "vs_top_ci_high",
    "vs_top_p",
    "vs_top_p_holm",
    "vs_top_seeds",
    "vs_top_ci_kind",
)
"""The CSV's paired comparison against the top method, last."""
GEOMETRY = ("update_sparsity", "top1_energy_share", "spectral_shift", "principal_angle_16")
"""The geometry columns, between the two when any run measured its geometry."""
