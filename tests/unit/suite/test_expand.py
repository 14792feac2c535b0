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


def test_relex_sources_record_densely_up_to_its_window(tmp_path: Path) -> None:
    from peft_rlvr_bench.disk_usage import recorded_updates
    from tests.helpers.suites import write_scale_suite

    suite = load_suite(
        write_scale_suite(
            tmp_path,
            budget={"max_steps": 6},
            trajectory={"every": 3},
            extrapolation=[{"name": "relex", "observe": 4, "target": 6, "applies_to": ["full"]}],
        )
    )
    by_label = {run.adapter.label: run for run in suite.runs}
    assert by_label["full"].trajectory.dense_until == 4, "RELEX's source: every update of its window"
    assert by_label["sparse-rl"].trajectory.dense_until is None, "not a RELEX source"
    assert recorded_updates(6, 3, 4) == 6 and recorded_updates(6, 3) == 3  # 0-4 and 6; 0, 3, 6
    opted_out = load_suite(
        write_scale_suite(
            tmp_path,
            name="off",
            trajectory={"every": 3, "dense_until": 0},
            extrapolation=[{"name": "relex", "observe": 3, "target": 3}],
        )
    )
    assert all(run.trajectory.dense_until == 0 for run in opted_out.runs)
    plain = load_suite(write_scale_suite(tmp_path, name="plain"))
    assert [run.run_id for run in plain.runs] == [
        run.run_id
        for run in load_suite(
            write_scale_suite(tmp_path, name="plain", trajectory={"every": 1, "dense_until": 5})
        ).runs
    ], "recording observes a run: not in its id"
