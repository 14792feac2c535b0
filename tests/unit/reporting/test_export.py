"""``prb export``: a tidy table (run x task x metric) that pandas and ``datasets`` load."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from peft_rlvr_bench.cli import app
from peft_rlvr_bench.reporting.export import COLUMNS, tidy_rows
from tests.helpers import hand_results


def test_one_row_per_run_task_and_metric() -> None:
    rows = tidy_rows(hand_results.runs())
    lora0 = [r for r in rows if r["run_id"] == "lora-s0"]
    accuracy = {(r["role"], r["task"]): r["value"] for r in lora0 if r["metric"] == "accuracy"}
    assert accuracy == {
        ("in_domain", "task"): 0.5,
        ("out_of_domain", "task"): 0.4,
        ("forgetting", "task"): 0.78,
    }
    assert {r["metric"] for r in lora0} == {"accuracy", "trainable_params", "seconds_train"}
    assert all(r["learning_rate"] == 1e-3 and r["seed"] == 0 for r in lora0)
    assert all(tuple(r) == COLUMNS for r in rows)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_prb_export_loads_in_pandas_and_datasets(tmp_path: Path, suffix: str) -> None:
    import datasets

    hand_results.write_suite(tmp_path, hand_results.base(), hand_results.runs())
    out = tmp_path / f"tidy{suffix}"
    old = os.umask(0o022)
    try:
        outcome = CliRunner().invoke(
            app, ["export", hand_results.SUITE, "--results-dir", str(tmp_path), "--out", str(out)]
        )
    finally:
        os.umask(old)
    assert outcome.exit_code == 0, outcome.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert tuple(frame.columns) == COLUMNS
    in_domain = frame[(frame.metric == "accuracy") & (frame.role == "in_domain") & (frame.method == "lora")]
    assert sorted(in_domain.value) == [0.5, 0.6, 0.7]
    assert frame[frame.method == "base"].seed.isna().all()
    loaded = datasets.load_dataset(suffix.lstrip("."), data_files=str(out), cache_dir=str(tmp_path / "hf"))
    assert loaded["train"].num_rows == len(frame)


def test_prb_export_refuses_a_format_it_cannot_write(tmp_path: Path) -> None:
    hand_results.write_suite(tmp_path, hand_results.base(), hand_results.runs())
    outcome = CliRunner().invoke(
        app, ["export", hand_results.SUITE, "--results-dir", str(tmp_path), "--out", str(tmp_path / "x.xlsx")]
    )
    assert outcome.exit_code == 2 and "name a .parquet or .csv file" in outcome.output
