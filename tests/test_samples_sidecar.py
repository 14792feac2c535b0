"""Per-item scores in the result JSON, and the samples sidecar the runner writes next to it
(reporting/results.py, reporting/samples.py, runner/plan.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.reporting.results import (
    ItemSample,
    RoleScore,
    RunResult,
    TaskScore,
    base_result_path,
    load_result,
    run_result_path,
    save_result,
)
from peft_rlvr_bench.reporting.samples import (
    read_samples,
    samples_path,
    save_result_and_samples,
    write_samples,
)
from peft_rlvr_bench.suite import load_suite

REPO = Path(__file__).resolve().parents[1]


def a_result(samples: list[ItemSample] | None, reason: str | None = None) -> RunResult:
    score = TaskScore(
        accuracy=0.5, n=4, items=[1.0, 0.0, 0.0, 1.0], sampled_items=[0.25, 1.0, 0.0, 0.5], items_digest="abc"
    )
    return RunResult(
        suite="s",
        run_id="lora-s0-1",
        method="lora",
        seed=0,
        status="ok" if samples is not None else "failed",
        reason=reason,
        spec={},
        metrics={"in_domain": RoleScore.from_tasks({"add": score})},
        samples=samples,
    )


SAMPLES = [
    ItemSample(task="add", index=0, prompt="1+1=", target="2", response="2", score=1.0),
    ItemSample(
        task="add",
        index=1,
        prompt="2+2=",
        target="4",
        response="5",
        score=0.0,
        responses=["4", "ü\n4"],
        scores=[1.0, 0.0],
    ),
]


def test_item_scores_are_written_short_on_one_line_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    tricky = 'a list in text: "items": [\n1] and [1.0, 0.0]'
    save_result(a_result(SAMPLES, reason=tricky), path)
    text = path.read_text()
    assert '"items": [1,0,0,1],' in text and '"sampled_items": [0.25,1,0,0.5]\n' in text
    assert "samples" not in json.loads(text), "the answers never go into the JSON"
    back = load_result(path)
    assert back.reason == tricky
    assert back.metrics["in_domain"].tasks["add"].items == [1.0, 0.0, 0.0, 1.0]
    assert back.samples is None and back == a_result(SAMPLES, reason=tricky).model_copy(
        update={"samples": None}
    )


@pytest.mark.parametrize("fixture", sorted((REPO / "tests" / "fixtures").glob("legacy_*.json")))
def test_results_written_before_per_item_scores_still_load(fixture: Path) -> None:
    result = load_result(fixture)
    tasks = [task for role in result.metrics.values() for task in role.tasks.values()]
    assert tasks and all(
        t.items is None and t.sampled_items is None and t.items_digest is None for t in tasks
    )


def test_the_sidecar_round_trips_and_reads_as_a_table(tmp_path: Path) -> None:
    import pandas as pd

    path = samples_path(tmp_path, "s", "lora-s0-1")
    assert path == tmp_path / "s" / "samples" / "lora-s0-1.jsonl.gz"
    write_samples(path, SAMPLES)
    first = path.read_bytes()
    write_samples(path, SAMPLES)
    assert path.read_bytes() == first, "the same answers, the same bytes"
    assert read_samples(path) == SAMPLES
    lines = gzip.decompress(first).decode().splitlines()
    assert "responses" not in json.loads(lines[0]), "absent fields are left out, not null"
    table = pd.read_json(path, lines=True, dtype=False)  # without dtype=False, "007" would become 7
    assert list(table["response"]) == ["2", "5"] and table["scores"][1] == [1.0, 0.0]
    assert not list(path.parent.glob(".*.tmp"))


def test_the_sidecar_is_written_before_the_json_and_a_result_without_samples_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft_rlvr_bench.reporting import samples as samples_module

    path, sidecar = tmp_path / "runs" / "r.json", samples_path(tmp_path, "s", "r")
    real_save = samples_module.save_result

    def save_after_the_sidecar(result: RunResult, where: Path) -> None:
        assert sidecar.exists() == (result.samples is not None), "sidecar first, or already gone"
        real_save(result, where)

    monkeypatch.setattr(samples_module, "save_result", save_after_the_sidecar)
    returned = save_result_and_samples(a_result(SAMPLES), path, sidecar)
    assert returned.samples is None and returned == load_result(path)
    assert read_samples(sidecar) == SAMPLES

    rerun = [SAMPLES[0].model_copy(update={"response": "3", "score": 0.0})]
    save_result_and_samples(a_result(rerun), path, sidecar)
    assert read_samples(sidecar) == rerun, "a rerun rewrites its sidecar"

    save_result_and_samples(a_result(None, reason="boom"), path, sidecar)
    assert not sidecar.exists() and load_result(path).status == "failed", "no stale answers"


# --- the runner -------------------------------------------------------------------------------

SUITE = """\
name: unit
train_task: add
eval: {in_domain: [add], n_items: 8, kl_items: 0, loss_items: 0}
recipe: {name: grpo}
budget: {max_steps: 2}
seeds: [0, 1]
adapters:
  - {name: full, lr: 1.0e-4}
"""


def suite_file(tmp_path: Path, text: str = SUITE) -> Any:
    path = tmp_path / "unit.yaml"
    path.write_text(text)
    return load_suite(path)


def answered(run_id: str, attempt: int) -> list[ItemSample]:
    return [
        ItemSample(task="add", index=0, prompt="1+1=", target="2", response=f"{run_id}#{attempt}", score=0.0)
    ]


def test_the_runner_rewrites_a_runs_sidecar_and_leaderboards_read_only_run_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft_rlvr_bench.reporting.leaderboard import load_suite_results
    from peft_rlvr_bench.runner import execute, run_suite

    suite = suite_file(tmp_path)
    attempts: dict[str, int] = {}
    failing: set[str] = set()

    def fake_run(run: Any, on_update: Any = None) -> RunResult:
        attempts[run.run_id] = attempts.get(run.run_id, 0) + 1
        failed = run.run_id in failing
        return RunResult(
            suite="unit",
            run_id=run.run_id,
            method="full",
            seed=run.seed,
            status="failed" if failed else "ok",
            spec={},
            samples=None if failed else answered(run.run_id, attempts[run.run_id]),
        )

    def fake_base(spec: Any) -> RunResult:
        return RunResult(
            suite="unit",
            run_id="base",
            method="base",
            seed=None,
            status="ok",
            spec=spec.base_identity(),
            samples=answered("base", 1),
        )

    monkeypatch.setattr(execute, "execute_run", fake_run)
    monkeypatch.setattr(execute, "evaluate_base", fake_base)
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))
    results = tmp_path / "results"
    first, second = (run.run_id for run in suite.runs)

    outcome = run_suite(suite, results)
    assert all(result.samples is None for result in outcome.ran), "the answers stay on disk"
    assert read_samples(samples_path(results, "unit", "base")) == answered("base", 1)
    for run_id in (first, second):
        assert read_samples(samples_path(results, "unit", run_id)) == answered(run_id, 1)
        assert "samples" not in json.loads(run_result_path(results, "unit", run_id).read_text())

    failing.add(second)
    run_suite(suite, results, force=True)
    assert read_samples(samples_path(results, "unit", first)) == answered(first, 2), "rerun, rewritten"
    assert not samples_path(results, "unit", second).exists(), "a failed rerun leaves no stale answers"

    run_result_path(results, "unit", first).unlink()  # a deleted run: its sidecar stays behind
    _, runs = load_suite_results(results / "unit")
    assert [run.run_id for run in runs] == [second]
    run_suite(suite, results)
    assert read_samples(samples_path(results, "unit", first)) == answered(first, 3)


def test_the_base_evaluation_keeps_item_scores_and_answers_unless_told_not_to(tmp_path: Path) -> None:
    from peft_rlvr_bench.evaluation.per_item import items_digest
    from peft_rlvr_bench.registry import TASKS
    from peft_rlvr_bench.runner.plan import evaluate_and_save_base

    suite = suite_file(tmp_path)
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

    quiet = suite_file(tmp_path, SUITE.replace("loss_items: 0}", "loss_items: 0, keep_samples: false}"))
    assert quiet.spec.eval.keep_samples is False
    assert quiet.spec.base_identity() == suite.spec.base_identity(), "storing answers is not part of what ran"
    assert [run.run_id for run in quiet.runs] == [run.run_id for run in suite.runs]
    evaluate_and_save_base(quiet, results)
    assert not samples_path(results, "unit", "base").exists(), "the older answers went with the rewrite"
    assert load_result(base_result_path(results, "unit")).metrics["in_domain"].tasks["add"].items == add.items
