"""Cross-field suite checks: settings that cannot work together fail when the suite loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.suites import tiny_suite

# Disk retention --------------------------------------------------------------------------------


def test_trajectory_keep_false_needs_no_extrapolation(tmp_path: Path) -> None:
    from peft_rlvr_bench.errors import UserError

    extra = "trajectory: {every: 1, keep: false}\nextrapolation:\n  - {name: relex, observe: 1, target: 2}\n"
    with pytest.raises(UserError, match=r"trajectory.keep: extrapolation reads the recorded trajectories"):
        tiny_suite(tmp_path, ["{name: full, lr: 1.0e-4}"], extra=extra)
    suite = tiny_suite(tmp_path, ["{name: full, lr: 1.0e-4}"], extra="trajectory: {every: 1, keep: false}\n")
    run = suite.runs[0]
    assert run.trajectory is not None and not run.trajectory.keep
    with_keep = tiny_suite(tmp_path, ["{name: full, lr: 1.0e-4}"], extra="trajectory: {every: 1}\n").runs[0]
    assert run.run_id == with_keep.run_id, "retention settings are not part of a run's identity"


def test_per_task_token_budgets_name_eval_tasks(tmp_path) -> None:
    import pytest

    from peft_rlvr_bench.errors import UserError
    from peft_rlvr_bench.suite import load_suite
    from tests.helpers.suites import SHORT_EVAL_SUITE, write

    text = SHORT_EVAL_SUITE.replace("kl_items: 0,", "kl_items: 0, task_max_new_tokens: {ad: 4},")
    with pytest.raises(UserError, match=r"eval\.task_max_new_tokens\.ad.*'ad' is not an eval task"):
        load_suite(write(tmp_path, text))
