"""The plan of a suite: order, skips, stale results, the base evaluation."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from peft_rlvr_bench.reporting.results import (
    RunResult,
    base_result_path,
    load_result,
    run_result_path,
    save_result,
)
from peft_rlvr_bench.reporting.samples import (
    read_samples,
    samples_path,
)
from peft_rlvr_bench.runner import execute, provenance, run_suite
from peft_rlvr_bench.runner.plan import plan_suite
from peft_rlvr_bench.suite import load_suite
from tests.helpers.provenance import HASH_B, PRESENT, VERSIONS, stamped
from tests.helpers.suites import SHORT_EVAL_SUITE, load_short_eval_suite, write_scale_suite


def test_the_base_evaluation_keeps_item_scores_and_answers_unless_told_not_to(tmp_path: Path) -> None:
    from peft_rlvr_bench.evaluation.per_item import items_digest
    from peft_rlvr_bench.registry import TASKS
    from peft_rlvr_bench.runner.plan import evaluate_and_save_base

    suite = load_short_eval_suite(tmp_path)
    results = tmp_path / "results"
    returned = evaluate_and_save_base(suite, results)
    base = load_result(base_result_path(results, "unit"))
    assert returned == base
    add = base.metrics["in_domain"].tasks["add"]
    items = TASKS.get("add").items("eval", 8, seed=0)
    assert add.items is not None and len(add.items) == 8 and add.accuracy == sum(add.items) / 8
    assert add.items_digest == items_digest((item.prompt, item.answer) for item in items)
    lines = read_samples(samples_path(results, "unit", "base"))
    assert [line.prompt for line in lines] == [item.prompt for item in items]
    assert [line.score for line in lines] == add.items

    quiet = load_short_eval_suite(
        tmp_path, SHORT_EVAL_SUITE.replace("loss_items: 0}", "loss_items: 0, keep_samples: false}")
    )
    assert quiet.spec.eval.keep_samples is False
    assert quiet.spec.base_identity() == suite.spec.base_identity(), "storing answers is not part of what ran"
    assert [run.run_id for run in quiet.runs] == [run.run_id for run in suite.runs]
    evaluate_and_save_base(quiet, results)
    assert not samples_path(results, "unit", "base").exists(), "the older answers went with the rewrite"
    assert load_result(base_result_path(results, "unit")).metrics["in_domain"].tasks["add"].items == add.items


STALE_SUITE = """\
name: unit
train_task: add
eval: {in_domain: [add]}
recipe: {name: grpo}
budget: {max_steps: 2}
seeds: [0, 1, 2]
adapters:
  - {name: full, lr: 1.0e-4}
"""


@pytest.fixture
def suite(tmp_path: Path) -> Any:
    path = tmp_path / "unit.yaml"
    path.write_text(STALE_SUITE)
    return load_suite(path)


def fake(run: Any) -> RunResult:
    return RunResult(
        suite="unit", run_id=run.run_id, method=run.adapter.label, seed=run.seed, status="ok", spec={}
    )


def test_prb_run_reruns_stale_results_says_so_and_keeps_those_from_another_cpu(
    suite: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))  # run locks live there
    results = tmp_path / "results"
    base = RunResult(
        suite="unit", run_id="base", method="base", seed=None, status="ok", spec=suite.spec.base_identity()
    )
    save_result(stamped(base), base_result_path(results, "unit"))
    other_world, other_cpu, other_versions = suite.runs
    save_result(
        stamped(fake(other_world), world=HASH_B), run_result_path(results, "unit", other_world.run_id)
    )
    save_result(
        stamped(fake(other_cpu), cpu="AMD EPYC 9B14"), run_result_path(results, "unit", other_cpu.run_id)
    )
    old = {**VERSIONS, "trl": "1.15.0"}
    save_result(
        stamped(fake(other_versions), versions=old), run_result_path(results, "unit", other_versions.run_id)
    )

    executed: list[str] = []
    base_calls: list[int] = []

    def fake_run(run: Any, on_update: Any = None) -> RunResult:
        executed.append(run.run_id)
        return stamped(fake(run))

    def fake_base(spec: Any) -> RunResult:
        base_calls.append(1)
        return stamped(base)

    monkeypatch.setattr(provenance, "present_stamp", lambda model: PRESENT)
    monkeypatch.setattr(execute, "execute_run", fake_run)
    monkeypatch.setattr(execute, "evaluate_base", fake_base)
    output = io.StringIO()
    outcome = run_suite(suite, results, console=Console(file=output, width=1000))

    assert executed == [other_world.run_id, other_versions.run_id], "the CPU alone does not make it stale"
    assert outcome.skipped == [other_cpu.run_id]
    assert base_calls == [], "the base was made in this environment"
    lines = output.getvalue().splitlines()
    assert [line for line in lines if "stale" in line] == [
        "unit: 2 result(s) made under another world or package versions "
        "(world hash bbbbbbbbbbbb -> aaaaaaaaaaaa; trl 1.15.0 -> 1.16.0): stale, will be rerun"
    ]
    note = "unit: note: kept results were made on another CPU (AMD EPYC 9B14 -> Intel(R) Xeon(R) Processor)"
    assert any(line.startswith(note) for line in lines)
    assert not any("stale" in line for line in _rerun_output(suite, results)), "rerun results are current"


def _rerun_output(suite: Any, results: Path) -> list[str]:
    output = io.StringIO()
    run_suite(suite, results, console=Console(file=output, width=1000))
    return output.getvalue().splitlines()


def test_plan_marks_the_base_stale_when_its_versions_differ(suite: Any, tmp_path: Path) -> None:
    from peft_rlvr_bench.runner.plan import plan_notes, plan_suite

    results = tmp_path / "results"
    base = RunResult(
        suite="unit", run_id="base", method="base", seed=None, status="ok", spec=suite.spec.base_identity()
    )
    save_result(stamped(base, versions={**VERSIONS, "torch": "2.12.0"}), base_result_path(results, "unit"))
    for run in suite.runs:
        save_result(stamped(fake(run)), run_result_path(results, "unit", run.run_id))
    plan = plan_suite(suite, results, present=PRESENT)
    assert plan.base and plan.work == [] and plan.stale == {"base": ["torch 2.12.0 -> 2.13.0+cpu"]}
    assert plan_notes("unit", plan) == [
        "3 finished run(s) skipped; --force reruns them",
        "unit: the base evaluation made under another world or package versions "
        "(torch 2.12.0 -> 2.13.0+cpu): stale, will be rerun",
    ]
    assert not plan_suite(suite, results, force=True, present=PRESENT).stale, "--force reruns all anyway"


# ------------------------------------------------------------------------------------------------
# The plan both backends share


def fake_result(run_id: str) -> RunResult:
    return RunResult(suite="scale", run_id=run_id, method="m", seed=0, status="ok", spec={})


def test_the_plan_orders_dependencies_and_skips_finished_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))
    suite = load_suite(write_scale_suite(tmp_path))
    full, sparse = suite.runs
    relex_full, relex_sparse = suite.derived
    results = tmp_path / "results"

    plan = plan_suite(suite, results)
    assert plan.base and plan.skipped == []
    assert [(w.run_id, w.after, w.counted) for w in plan.work] == [
        (full.run_id, (), True),
        (sparse.run_id, (full.run_id,), True),
        (relex_full.run_id, (full.run_id,), True),
        (relex_sparse.run_id, (sparse.run_id,), True),
    ]

    # Both trained runs finished, their outputs on disk: only the extrapolations are left.
    for run in suite.runs:
        save_result(fake_result(run.run_id), run_result_path(results, "scale", run.run_id))
        trajectory = tmp_path / "outputs" / "scale" / run.run_id / "trajectory"
        trajectory.mkdir(parents=True)
        (trajectory / "manifest.json").write_text("{}")
        (trajectory.parent / "final").mkdir()
    plan = plan_suite(suite, results)
    assert plan.skipped == [full.run_id, sparse.run_id]
    assert [(w.run_id, w.after) for w in plan.work] == [(relex_full.run_id, ()), (relex_sparse.run_id, ())]

    # A fresh clone: results committed, checkpoints not. The sparse run reruns, and the full run
    # it builds on is redone first for its weights (not counted as a run of this invocation).
    import shutil

    shutil.rmtree(tmp_path / "outputs")
    for derived in suite.derived:
        save_result(fake_result(derived.run_id), run_result_path(results, "scale", derived.run_id))
    run_result_path(results, "scale", sparse.run_id).unlink()
    plan = plan_suite(suite, results)
    assert [(w.run_id, w.after, w.counted) for w in plan.work] == [
        (full.run_id, (), False),
        (sparse.run_id, (full.run_id,), True),
    ]
    assert [w.run_id for w in plan_suite(suite, results, force=True).work] == [
        full.run_id,
        sparse.run_id,
        relex_full.run_id,
        relex_sparse.run_id,
    ]


@pytest.mark.parametrize("content", [b"", b'{"suite": "unit", "run_id"', b"\x00\xff garbage"])
def test_a_corrupt_result_or_base_is_missing_to_the_plan_which_says_so(
    suite: Any, tmp_path: Path, content: bytes
) -> None:
    from peft_rlvr_bench.runner.plan import plan_notes

    results = tmp_path / "results"
    base = RunResult(
        suite="unit", run_id="base", method="base", seed=None, status="ok", spec=suite.spec.base_identity()
    )
    save_result(stamped(base), base_result_path(results, "unit"))
    for run in suite.runs:
        save_result(stamped(fake(run)), run_result_path(results, "unit", run.run_id))
    broken = run_result_path(results, "unit", suite.runs[1].run_id)
    broken.write_bytes(content)
    plan = plan_suite(suite, results, present=PRESENT)
    assert not plan.base and [w.run_id for w in plan.work] == [suite.runs[1].run_id]
    (note,) = [note for note in plan_notes("unit", plan) if "treated as missing" in note]
    assert note.startswith(f"{broken}: ") and "\n" not in note

    base_result_path(results, "unit").write_bytes(content)
    plan = plan_suite(suite, results, present=PRESENT)
    assert plan.base and any(
        str(base_result_path(results, "unit")) in note for note in plan_notes("unit", plan)
    )
