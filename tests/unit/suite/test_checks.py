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


# Controls --------------------------------------------------------------------------------------

LORA = "{name: lora, r: 1, alpha: 2, lr: 2.0e-3}"


def twin(lr: str = "2.0e-3", seeds: str = "[5, 6]") -> str:
    """A negative control of LORA, as a YAML flow mapping."""
    return (
        f"{{name: lora, r: 1, alpha: 2, lr: {lr}, label: twin, seeds: {seeds}, "
        "control: {kind: negative, against: lora}}"
    )


def test_a_negative_control_runs_its_own_seeds_and_keeps_the_reference_run_ids(tmp_path: Path) -> None:
    suite = tiny_suite(tmp_path, [LORA, twin()])
    twins = [run for run in suite.runs if run.adapter.label == "twin"]
    assert [run.seed for run in twins] == [5, 6]
    assert twins[0].adapter.control is not None and twins[0].adapter.control.against == "lora"
    alone = tiny_suite(tmp_path, [LORA]).runs
    assert [r.run_id for r in suite.runs if r.adapter.label == "lora"] == [r.run_id for r in alone]
    # The control mark files the result; it computes nothing, so it is not part of the identity.
    marked = tiny_suite(
        tmp_path, [LORA, "{name: lora, r: 1, alpha: 2, lr: 2.0e-3, label: twin, seeds: [5, 6]}"]
    ).runs
    assert [r.run_id.split("-")[-1] for r in marked if r.adapter.label == "twin"] == [
        r.run_id.split("-")[-1] for r in twins
    ]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            twin(lr="1.0e-3"),
            r"adapters\.1\.control: a negative control repeats 'lora' exactly; it differs in lr",
        ),
        (
            twin(seeds="[0, 9]"),
            r"adapters\.1\.seeds: shares seeds \[0\] with 'lora'",
        ),
        (
            "{name: lora, r: 1, lr: 2.0e-3, label: q, control: {kind: positive, against: lorra}}",
            r"adapters\.1\.control\.against: 'lorra' is not another entry's label.*did you mean 'lora'",
        ),
    ],
)
def test_bad_controls_fail_when_the_suite_loads(tmp_path: Path, entry: str, message: str) -> None:
    from peft_rlvr_bench.errors import UserError

    with pytest.raises(UserError, match=message):
        tiny_suite(tmp_path, [LORA, entry])


def test_per_task_token_budgets_name_eval_tasks(tmp_path) -> None:
    import pytest

    from peft_rlvr_bench.errors import UserError
    from peft_rlvr_bench.suite import load_suite
    from tests.helpers.suites import SHORT_EVAL_SUITE, write

    text = SHORT_EVAL_SUITE.replace("kl_items: 0,", "kl_items: 0, task_max_new_tokens: {ad: 4},")
    with pytest.raises(UserError, match=r"eval\.task_max_new_tokens\.ad.*'ad' is not an eval task"):
        load_suite(write(tmp_path, text))
