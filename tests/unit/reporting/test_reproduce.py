"""``prb verify``: base metrics must match, each fresh run must fall inside its method's 95%
prediction interval for a new seed over the committed seeds."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from peft_rlvr_bench.cli import run_cli
from peft_rlvr_bench.reporting.reproduce import base_checks, prediction_interval
from peft_rlvr_bench.reporting.results import RoleScore, RunResult, TaskScore, save_result
from tests.helpers.hand_results import result

T_975_2DF = 4.302652729911275  # Student t quantile 0.975 with 2 degrees of freedom (tables)


def test_prediction_interval_is_mean_plus_minus_t_s_sqrt_one_plus_one_over_n() -> None:
    low, high = prediction_interval([1.0, 2.0, 3.0])  # type: ignore[misc]
    half = T_975_2DF * 1.0 * math.sqrt(1 + 1 / 3)
    assert (low, high) == pytest.approx((2 - half, 2 + half))
    assert prediction_interval([0.5]) is None and prediction_interval([]) is None
    assert prediction_interval([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7))


def base(add: float = 0.5, pass_at_k: float = 0.8, nll: float = 0.05) -> RunResult:
    scored = TaskScore(accuracy=add, n=500, k=8, avg_at_k=0.6, pass_at_k=pass_at_k)
    forgetting = TaskScore(accuracy=0.9, n=500, nll=nll)
    return RunResult(
        suite="hand",
        run_id="base",
        method="base",
        seed=None,
        status="ok",
        spec={},
        metrics={
            "in_domain": RoleScore.from_tasks({"add": scored}),
            "forgetting": RoleScore.from_tasks({"max": forgetting}),
        },
    )


def test_base_checks_want_greedy_exact_and_the_rest_within_tolerance() -> None:
    assert all(check.ok for check in base_checks(base(), base(pass_at_k=0.802, nll=0.05005)))
    failed = {check.subject for check in base_checks(base(add=0.502, pass_at_k=0.81, nll=0.051), base())}
    assert failed >= {
        "base in_domain add accuracy",
        "base in_domain add pass_at_k",
        "base forgetting max nll",
    }


def write(root: Path, base_result: RunResult, runs: list[RunResult]) -> Path:
    save_result(base_result, root / "hand" / "base.json")
    for run in runs:
        save_result(run, root / "hand" / "runs" / f"{run.run_id}.json")
    return root


def committed(tmp_path: Path) -> Path:
    seeds = [
        result("lora", seed, score, 0.40 + seed / 100, 0.78) for seed, score in enumerate([0.60, 0.61, 0.62])
    ]
    return write(tmp_path / "committed", result("base", None, 0.25, 0.3, 0.8, lr=None), seeds)


def test_prb_verify_passes_a_run_inside_the_interval_and_flags_one_outside(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    against = committed(tmp_path)
    # in-domain interval: 0.61 ± 4.303 * 0.01 * sqrt(4/3) = [0.5603, 0.6597]
    fresh = write(
        tmp_path / "fresh",
        result("base", None, 0.25, 0.3, 0.8, lr=None),
        [result("lora", 0, 0.65, 0.41, 0.78)],
    )
    argv = ["verify", "hand", "--results-dir", str(fresh), "--against", str(against)]
    assert run_cli(argv) == 0
    out = capsys.readouterr().out
    assert "lora-s0 in_domain" in out and "[0.5603, 0.6597]" in out and "0 differ" in out

    write(fresh, result("base", None, 0.25, 0.3, 0.8, lr=None), [result("lora", 0, 0.70, 0.41, 0.78)])
    assert run_cli(argv) == 1
    out = capsys.readouterr().out
    assert [line.split()[:2] for line in out.splitlines() if line.endswith("DIFFERS")] == [
        ["lora-s0", "in_domain"]
    ]


def test_prb_verify_flags_another_base_and_cannot_judge_another_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    against = committed(tmp_path)
    other_spec = result("lora", 1, 0.61, 0.41, 0.78).model_copy(update={"run_id": "lora-s1-otherspec"})
    fresh = write(tmp_path / "fresh", result("base", None, 0.26, 0.3, 0.8, lr=None), [other_spec])
    assert run_cli(["verify", "hand", "--results-dir", str(fresh), "--against", str(against)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("base in_domain task accuracy") and line.endswith("DIFFERS") for line in lines)
    assert any(line.startswith("lora-s1-otherspec") and line.endswith("-") for line in lines)
