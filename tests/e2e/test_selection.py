"""The selection stage end to end in the tiny world: two learning-rate candidates, two updates each.

A stage killed after its first candidate resumes under `prb run` (the finished candidate is
skipped), chooses on validation items only (never an eval item), records the choice with its
evidence, and the comparison runs at the chosen rate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.reporting.results import load_result
from peft_rlvr_bench.reporting.selection import RULE
from tests.helpers.paths import REPO

pytestmark = pytest.mark.e2e

SUITE = """\
name: pick
model: {name: tiny}
train_task: add
eval: {in_domain: [add], n_items: 16, kl_items: 0, loss_items: 0, keep_samples: false}
recipe: {name: grpo, prompts_per_step: 2, num_generations: 4}
budget: {max_steps: 2}
seeds: [0]
adapters:
  - {name: lora, r: 4, lr: [1.0e-3, 3.0e-3]}
select: {items: 16, seeds: [100]}
"""


class Killed(Exception):
    """Stands in for the process dying between two candidates."""


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import peft_rlvr_bench.evaluation as evaluation
    from peft_rlvr_bench.runner.plan import execute_work
    from peft_rlvr_bench.runner.selection import run_selection
    from peft_rlvr_bench.suite import load_suite

    root = tmp_path_factory.mktemp("selection")
    suite_file = root / "pick.yaml"
    suite_file.write_text(SUITE)
    data_files: list[tuple[str, int, str, Path]] = []
    real_data_file = evaluation.eval_data_file

    def spy(task: str, n_items: int, split: str = "eval", context: Any = None) -> Path:
        path = real_data_file(task, n_items, split, context)  # type: ignore[arg-type]
        data_files.append((task, n_items, split, path))
        return path

    executed: list[str] = []

    def first_then_killed(work: Any, suite: Any, results_root: Path) -> Any:
        if executed:
            raise Killed
        executed.append(work.run_id)
        return execute_work(work, suite, results_root)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PRB_OUTPUTS_DIR", str(root / "outputs"))
        patch.setattr(evaluation, "eval_data_file", spy)
        with pytest.raises(Killed):
            run_selection(load_suite(suite_file), root / "results", execute=first_then_killed)
    env = {**os.environ, "PRB_OUTPUTS_DIR": str(root / "outputs")}
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "peft_rlvr_bench.cli",
            "run",
            str(suite_file),
            "--results-dir",
            str(root / "results"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return {"root": root, "first": executed[0], "data_files": data_files, "stderr": resumed.stderr}


def test_a_killed_stage_resumes_without_retraining_finished_candidates(stage: dict[str, Any]) -> None:
    assert "pick: selection: 2 candidate(s), 1 run(s) to train, 1 finished" in stage["stderr"]
    runs = sorted((stage["root"] / "results" / "pick" / "selection" / "runs").glob("*.json"))
    assert len(runs) == 2
    first = load_result(stage["root"] / "results" / "pick" / "selection" / "runs" / f"{stage['first']}.json")
    assert first.status == "ok"


def test_selection_reads_validation_items_never_eval_items(stage: dict[str, Any]) -> None:
    from peft_rlvr_bench.context import RunContext

    # Before the kill the first candidate was scored; every data file it read is a validation one.
    assert stage["data_files"], "the candidate was never scored"
    assert {(task, n, split) for task, n, split, _ in stage["data_files"]} == {("add", 16, "validation")}
    scored = {json.loads(line)["prompt"] for _, _, _, path in stage["data_files"] for line in path.open()}
    eval_prompts = {item.prompt for item in RunContext().task("add").items("eval", 1000, seed=0)}
    assert len(scored) == 16
    assert not scored & eval_prompts
    # Every candidate's recorded items are the validation items, not the comparison's eval items.
    results = stage["root"] / "results" / "pick"
    record = json.loads((results / "selection" / "choice.json").read_text())
    digests = {c["items_digest"]["add"] for e in record["entries"] for c in e["candidates"]}
    comparison = [load_result(p) for p in (results / "runs").glob("*.json")]
    assert len(digests) == 1
    assert digests.isdisjoint({r.metrics["in_domain"].tasks["add"].items_digest for r in comparison})


def test_the_choice_and_its_evidence_are_recorded(stage: dict[str, Any]) -> None:
    results = stage["root"] / "results" / "pick"
    record = json.loads((results / "selection" / "choice.json").read_text())
    assert record["rule"] == RULE
    assert (record["metric"], record["tasks"], record["items"], record["seeds"]) == (
        "in_domain",
        ["add"],
        16,
        [100],
    )
    (entry,) = record["entries"]
    assert [c["values"] for c in entry["candidates"]] == [{"lr": 1.0e-3}, {"lr": 3.0e-3}]
    for item in entry["candidates"]:
        assert item["seeds"] == [100] and item["status"] == ["ok"]
        assert item["score"] == item["per_seed"][0]
        assert item["interval"] == "items" and item["low"] <= item["score"] <= item["high"]
    best = max(entry["candidates"], key=lambda c: (c["score"], -c["values"]["lr"]))
    assert entry["chosen"] == best["values"] and entry["chosen_label"] == best["label"]
    page = (results / "selection.md").read_text()
    assert f"**{best['values']['lr']:g}**" in page and RULE in page


def test_the_comparison_runs_at_the_chosen_rate(stage: dict[str, Any]) -> None:
    results = stage["root"] / "results" / "pick"
    record = json.loads((results / "selection" / "choice.json").read_text())
    (comparison,) = [load_result(p) for p in (results / "runs").glob("*.json")]
    assert comparison.status == "ok" and comparison.method == "lora" and comparison.seed == 0
    assert comparison.spec["adapter"]["lr"] == record["entries"][0]["chosen"]["lr"]
    assert comparison.train_config["learning_rate"] == record["entries"][0]["chosen"]["lr"]
    assert (results / "base.json").is_file()


def test_a_recorded_choice_stands_until_the_candidates_change(stage: dict[str, Any]) -> None:
    from peft_rlvr_bench.runner.selection import with_recorded_choice
    from peft_rlvr_bench.suite import load_suite

    root = stage["root"]
    resolved = with_recorded_choice(load_suite(root / "pick.yaml"), root / "results")
    (comparison,) = [load_result(p) for p in (root / "results" / "pick" / "runs").glob("*.json")]
    assert [run.run_id for run in resolved.runs] == [comparison.run_id]
    args = ["run", str(root / "pick.yaml"), "--dry-run", "--results-dir", str(root / "results")]
    dry = subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert dry.returncode == 0, dry.stderr
    assert "pick: selection: chosen (selection.md); the comparison:" in dry.stdout
    assert "0 to run, 1 finished" in dry.stdout
    # Another grid (or selection seeds, items, budget) means other candidates: select again.
    edited = root / "edited.yaml"
    edited.write_text(
        SUITE.replace("[1.0e-3, 3.0e-3]", "[1.0e-3, 1.0e-2]").replace("name: pick", "name: pick", 1)
    )
    assert with_recorded_choice(load_suite(edited), root / "results").awaits_selection
