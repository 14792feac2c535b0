"""The metric declarations every table, CSV and page reads: one entry per metric."""

from __future__ import annotations

import pytest

from peft_rlvr_bench.reporting.html import render_html
from peft_rlvr_bench.reporting.leaderboard import (
    build_leaderboard,
)
from peft_rlvr_bench.reporting.markdown import csv_columns, render_markdown
from peft_rlvr_bench.reporting.metrics import METRICS, METRICS_BY_NAME, Metric, field, humanize_count, percent
from tests.helpers.hand_results import GEOMETRY, SUITE, result, rows_by_method
from tests.helpers.hand_results import base as _base
from tests.helpers.hand_results import runs as _runs

# One declaration of every metric -------------------------------------------------------------


def test_every_metric_is_declared_once_with_a_direction_and_a_description() -> None:
    assert len({m.name for m in METRICS}) == len(METRICS)
    for metric in METRICS:
        assert metric.direction in ("higher", "lower", "diagnostic")
        assert metric.description and metric.header
        assert metric.legend.startswith(f"{metric.header} (")
    assert METRICS_BY_NAME["in_domain"].direction == "higher"
    assert METRICS_BY_NAME["forgetting"].direction == "lower" and METRICS_BY_NAME["forgetting"].versus_base
    assert all(METRICS_BY_NAME[name].direction == "diagnostic" for name in GEOMETRY)


def test_field_reads_attributes_and_keys_and_none_when_absent() -> None:
    run = result("lora", 0, 0.5, 0.4, 0.7, train_seconds=3.0).model_copy(
        update={"extrapolation": {"steps_saved": 7, "flag": True}}
    )
    assert field("metrics", "in_domain", "score")(run) == 0.5
    assert field("timings", "train")(run) == 3.0
    assert field("extrapolation", "steps_saved")(run) == 7
    assert field("extrapolation", "flag")(run) is None, "a bool is not a number"
    assert field("metrics", "pass_at_k", "8")(run) is None
    assert field("no_such_field")(run) is None
    assert field("geometry", "headline")(run) is None


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (950, "950"),
        (662_400, "662.4k"),
        (1_200_000, "1.2M"),
        (999_960, "1.0M"),
        (7_615_616_512, "7.6B"),
    ],
)
def test_humanize_count(count: int, text: str) -> None:
    assert humanize_count(count) == text


def test_a_new_metric_is_one_entry_and_shows_only_where_measured() -> None:
    kl = Metric("kl_drift", "KL drift", "lower", "KL to the base", field("timings", "kl"), ci=True)
    runs = [r.model_copy(update={"timings": {**r.timings, "kl": 0.1 * (r.seed or 0)}}) for r in _runs()[:3]]
    runs += _runs()[3:]
    board = build_leaderboard(SUITE, _base(), runs, metrics=(*METRICS, kl))
    assert board.columns[-1] is kl
    rows = rows_by_method(board.rows)
    assert rows["lora"].value("kl_drift") == pytest.approx(0.1) and rows["pissa"].value("kl_drift") is None
    assert "kl_drift_ci_low" in csv_columns(board)
    text = render_markdown(board)
    assert "| KL drift |" in text and "- KL drift (lower is better): KL to the base" in text
    assert next(line for line in text.splitlines() if line.startswith("| pissa |")).endswith("| - |")
    # Nobody measured it: no column anywhere.
    unmeasured = build_leaderboard(SUITE, _base(), _runs(), metrics=(*METRICS, kl))
    assert kl not in unmeasured.columns and "kl_drift" not in csv_columns(unmeasured)
    assert "KL drift" not in render_markdown(unmeasured) and "KL drift" not in render_html(unmeasured)


def test_percent_never_shows_minus_zero() -> None:
    assert percent(-0.0001) == "0.0" and percent(0.9172) == "91.7"


def test_median_step_time_and_gpu_peak_are_leaderboard_columns() -> None:
    from peft_rlvr_bench.reporting.metrics import METRICS_BY_NAME
    from peft_rlvr_bench.reporting.results import RunResult, StepRecord

    run = RunResult(
        suite="s",
        run_id="r",
        method="lora",
        seed=0,
        status="ok",
        spec={},
        train_curve=[StepRecord(step=i, step_seconds=s) for i, s in enumerate([9.0, 1.0, 2.0, None], 1)],
        gpu_memory={
            "peak_allocated_mb": 1024.0,
            "peak_reserved_mb": 2048.0,
            "device": "H200",
            "device_count": 1,
        },
    )
    assert METRICS_BY_NAME["step_seconds"].read(run) == 2.0
    assert METRICS_BY_NAME["gpu_peak_mb"].read(run) == 1024.0
    bare = run.model_copy(update={"train_curve": [], "gpu_memory": None})
    assert (
        METRICS_BY_NAME["step_seconds"].read(bare) is None
        and METRICS_BY_NAME["gpu_peak_mb"].read(bare) is None
    )
