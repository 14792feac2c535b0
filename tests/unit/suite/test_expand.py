"""Expanding a suite into runs: adapters x seeds, with stable unique ids."""

from __future__ import annotations

from pathlib import Path

from peft_rlvr_bench.suite import load_suite
from tests.helpers.suites import GOOD, write


def test_expansion_is_adapters_times_seeds_with_stable_unique_ids(tmp_path: Path) -> None:
    runs = load_suite(write(tmp_path, GOOD)).runs
    assert [(r.adapter.label, r.seed) for r in runs] == [("full", 0), ("full", 1), ("lora", 0), ("lora", 1)]
    assert len({r.run_id for r in runs}) == 4
    again = load_suite(write(tmp_path, GOOD, "copy.yaml")).runs
    assert [r.run_id for r in runs] == [r.run_id for r in again]
    assert runs[2].adapter.params["r"] == 4 and runs[2].adapter.params["alpha"] == 16.0, "defaults resolved"
