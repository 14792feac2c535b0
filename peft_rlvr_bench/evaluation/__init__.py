"""Evaluation through lm-eval: greedy accuracy per task, grouped by role.

Harness tasks become lm-eval tasks from one shipped template (``lm_eval_tasks/prb_task.yaml``)
over the task's generated eval JSONL, scored by the task's verifier, which is also the RL reward.
The model and tokenizer objects are handed to lm-eval directly, so nothing is reloaded from disk
(and transformers cannot re-resolve the tokenizer differently).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Literal

from peft_rlvr_bench.paths import cache_dir
from peft_rlvr_bench.registry import TASKS
from peft_rlvr_bench.reporting.results import RoleScore, TaskScore, write_text_atomic
from peft_rlvr_bench.suite import EvalSpec

TEMPLATE = Path(__file__).parent / "lm_eval_tasks" / "prb_task.yaml"
VALIDATION_SEED = 999_983
"""Seeds the validation items: drawn from the train split, so they never repeat an eval item."""

Split = Literal["eval", "validation"]


def lm_eval_task_name(task: str) -> str:
    return f"prb_{task}"


def eval_data_file(task: str, n_items: int, split: Split = "eval") -> Path:
    """The task's first ``n_items`` items of ``split`` as JSONL in the cache, written once.

    ``eval`` items are the held-out test set; ``validation`` items come from the train split, for
    choices a method makes during a run (NExt's coefficient) without looking at the test set.
    """
    task_impl = TASKS.get(task)
    items = (
        task_impl.items("eval", n_items, seed=0)
        if split == "eval"
        else task_impl.items("train", n_items, seed=VALIDATION_SEED)
    )
    lines = [
        json.dumps({"prompt": item.prompt, "answer": item.answer, "verifier": task_impl.verifier})
        for item in items
    ]
    text = "\n".join(lines) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = cache_dir() / "eval_data" / f"{task}-{split}-{n_items}-{digest}.jsonl"
    if not path.exists():
        write_text_atomic(path, text)
    return path


def lm_eval_task_config(
    task: str, n_items: int, max_new_tokens: int, split: Split = "eval"
) -> dict[str, Any]:
    """The template config with this task's name, data file and generation length."""
    from lm_eval.tasks._yaml_loader import load_yaml

    config = load_yaml(TEMPLATE)
    config["task"] = lm_eval_task_name(task)
    config["dataset_kwargs"] = {"data_files": {"test": str(eval_data_file(task, n_items, split))}}
    config["generation_kwargs"] = {**config["generation_kwargs"], "max_gen_toks": max_new_tokens}
    return config


def evaluate(
    model: Any, tokenizer: Any, spec: EvalSpec, device: str = "cpu", split: Split = "eval"
) -> dict[str, RoleScore]:
    """Greedy accuracy of ``model`` on every task of ``spec``, grouped by role."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    tasks = sorted({task for names in spec.roles().values() for task in names})
    was_training = model.training
    model.eval()
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=spec.batch_size, device=device)
    # lm-eval forces its tqdm bars on (disable= is passed explicitly), which would tear the
    # runner's live display; the bars are the only thing it writes to stderr on success.
    with contextlib.redirect_stderr(io.StringIO()):
        output = simple_evaluate(
            model=lm,
            tasks=[lm_eval_task_config(task, spec.n_items, spec.max_new_tokens, split) for task in tasks],
            task_manager=TaskManager(include_defaults=False),
            log_samples=False,
            bootstrap_iters=0,
        )
    model.train(was_training)
    assert output is not None  # only None on non-zero ranks of a distributed run
    scores: dict[str, TaskScore] = {}
    for task in tasks:
        name = lm_eval_task_name(task)
        scores[task] = TaskScore(
            accuracy=float(output["results"][name]["acc,none"]),
            n=int(output["n-samples"][name]["effective"]),
        )
    return {
        role: RoleScore.from_tasks({t: scores[t] for t in names})
        for role, names in spec.roles().items()
        if names
    }
