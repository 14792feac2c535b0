"""lm-eval's own tasks (MATH-500, AIME, GPQA Diamond, MMLU-Pro, ...) as evaluation tasks beside the
verifier-scored ones, for numbers comparable with published ones: ``eval.lm_eval_tasks``.

They run as lm-eval ships them (its prompts, few-shot examples, answer extraction and metrics),
with one change: every task generates at most ``eval.max_new_tokens`` (AIME's own 32768 would not
fit a 4096-token context). Their scores are lm-eval's, recorded per task and metric in the
result's ``lm_eval`` and shown in their own leaderboard columns (``reporting/metrics.py``); they
are not the harness's verifier scores and are never mixed with them.

lm-eval's full task index (about 15,000 names) takes 15 s to build; only the folders of the asked
tasks are indexed (``SHIPPED_TASK_FOLDERS``), plus ``eval.lm_eval_include``, folders of task
YAMLs of your own in lm-eval's format. A name in neither is looked up in the full index.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.suite import EvalSpec

SHIPPED_TASK_FOLDERS = {
    "minerva_math500": "minerva_math",
    "hendrycks_math500": "hendrycks_math",
    "aime": "aime",
    "aime24": "aime",
    "aime25": "aime",
    "gpqa_diamond_cot_zeroshot": "gpqa/cot_zeroshot",
    "gpqa_diamond_cot_n_shot": "gpqa/cot_n_shot",
    "gpqa_diamond_generative_n_shot": "gpqa/generative",
    "gpqa_diamond_zeroshot": "gpqa/zeroshot",
    "mmlu_pro": "mmlu_pro",
}
"""lm-eval 0.4's folder (under ``lm_eval/tasks``) of each shipped task the harness knows."""


def task_manager(names: list[str], include: list[str]) -> Any:
    """An lm-eval ``TaskManager`` that indexes only what ``names`` need."""
    import lm_eval.tasks
    from lm_eval.tasks import TaskManager

    root = Path(lm_eval.tasks.__file__).parent
    folders = [str(Path(path).expanduser()) for path in include]
    folders += sorted({str(root / SHIPPED_TASK_FOLDERS[n]) for n in names if n in SHIPPED_TASK_FOLDERS})
    narrowed = TaskManager(include_defaults=False, include_path=folders or None)
    if all(name in narrowed.all_tasks for name in names):
        return narrowed
    return TaskManager(include_defaults=True, include_path=folders or None)


def scores_of(results: dict[str, Any], names: list[str]) -> dict[str, dict[str, float]]:
    """lm-eval's ``results`` of the asked tasks (or groups) as ``{task: {"metric,filter": value}}``,
    without standard errors (bootstrap is off) and non-numbers."""
    scores = {}
    for name in names:
        figures = results.get(name, {})
        scores[name] = {
            key: float(value)
            for key, value in figures.items()
            if "_stderr" not in key
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and not math.isnan(value)
        }
    return scores


def shipped_scores(
    model: Any,
    tokenizer: Any,
    spec: EvalSpec,
    device: str,
    context: RunContext,
    timings: dict[str, float] | None = None,
) -> dict[str, dict[str, float]] | None:
    """lm-eval's scores of ``model`` on ``spec.lm_eval_tasks`` (seconds in ``timings["lm_eval"]``);
    None when the suite names none."""
    import time

    from peft_rlvr_bench.evaluation import run_lm_eval

    if not spec.lm_eval_tasks:
        return None
    clock = time.perf_counter()
    names = list(spec.lm_eval_tasks)
    output = run_lm_eval(
        model,
        tokenizer,
        spec,
        names,
        device,
        context,
        task_manager=task_manager(names, list(spec.lm_eval_include)),
        gen_kwargs={"max_gen_toks": spec.max_new_tokens},
        log_samples=False,
    )
    if timings is not None:
        timings["lm_eval"] = time.perf_counter() - clock
    return scores_of(output["results"], names)
