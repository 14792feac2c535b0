"""lm-eval's own tasks beside the verifier tasks (``eval.lm_eval_tasks``): a tiny local task YAML in
lm-eval's own format stands in for a shipped one; the shipped ones' index is narrowed."""

from __future__ import annotations

import json
from pathlib import Path

from peft_rlvr_bench.evaluation.shipped import scores_of, shipped_scores, task_manager
from peft_rlvr_bench.suite import EvalSpec, ModelSpec

TASK = """\
task: local_copy
dataset_path: json
dataset_kwargs:
  data_files: {{test: {data}}}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["\\n"]
  do_sample: false
  max_gen_toks: 32768
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""


def local_task(tmp_path: Path) -> Path:
    folder = tmp_path / "tasks"
    folder.mkdir()
    data = tmp_path / "items.jsonl"
    rows = [{"question": f"{a}+{b}=", "answer": str(a + b)} for a, b in [(1, 2), (3, 4), (2, 2), (5, 1)]]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "local_copy.yaml").write_text(TASK.format(data=data))
    return folder


def test_a_local_task_in_lm_evals_format_is_scored_by_lm_eval(tmp_path: Path) -> None:
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.models import load_base

    model, tokenizer = load_base(ModelSpec())
    folder = local_task(tmp_path)
    spec = EvalSpec(
        in_domain=["add"], max_new_tokens=6, lm_eval_tasks=["local_copy"], lm_eval_include=[str(folder)]
    )
    timings: dict[str, float] = {}
    scores = shipped_scores(model, tokenizer, spec, "cpu", RunContext(), timings)
    assert scores is not None and list(scores) == ["local_copy"]
    accuracy = scores["local_copy"]["exact_match,none"]
    assert 0.0 <= accuracy <= 1.0 and accuracy * 4 == round(accuracy * 4), "a share of 4 items"
    assert timings["lm_eval"] > 0
    assert shipped_scores(model, tokenizer, EvalSpec(in_domain=["add"]), "cpu", RunContext()) is None


def test_only_the_asked_tasks_folders_are_indexed() -> None:
    manager = task_manager(["aime24", "minerva_math500"], [])
    assert {"aime24", "aime25", "minerva_math500"} <= set(manager.all_tasks)
    assert "mmlu" not in manager.all_tasks and len(manager.all_tasks) < 100, "not the 15,000-name index"


def test_scores_keep_lm_evals_metric_keys_without_errors_or_labels() -> None:
    results = {
        "mmlu_pro": {
            "alias": "mmlu_pro",
            "exact_match,custom-extract": 0.41,
            "exact_match_stderr,custom-extract": "N/A",
        }
    }
    assert scores_of(results, ["mmlu_pro"]) == {"mmlu_pro": {"exact_match,custom-extract": 0.41}}


def test_shipped_tasks_have_their_own_leaderboard_columns() -> None:
    from peft_rlvr_bench.reporting.metrics import METRICS_BY_NAME
    from peft_rlvr_bench.reporting.results import RunResult

    run = RunResult(
        suite="s",
        run_id="r",
        method="lora",
        seed=0,
        status="ok",
        spec={},
        lm_eval={"aime24": {"exact_match,none": 0.1}, "mmlu_pro": {"exact_match,custom-extract": 0.4}},
    )
    assert METRICS_BY_NAME["lm_eval_aime24"].read(run) == 0.1
    assert METRICS_BY_NAME["lm_eval_mmlu_pro"].read(run) == 0.4
    assert METRICS_BY_NAME["lm_eval_aime25"].read(run) is None and METRICS_BY_NAME["lm_eval_aime25"].optional
