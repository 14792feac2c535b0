"""The dataset tasks' local fixtures (one small file per task in the real datasets' column
layouts, under ``tests/fixtures/datasets/``) and a suite that names them."""

from __future__ import annotations

from tests.helpers.paths import FIXTURES as ALL_FIXTURES

FIXTURES = ALL_FIXTURES / "datasets"
SOURCES = {
    "math_train": {"path": str(FIXTURES / "math_train.jsonl")},
    "deepscaler": {"path": str(FIXTURES / "deepscaler.jsonl")},
    "math500": {"path": str(FIXTURES / "math500.jsonl")},
    "aime24": {"path": str(FIXTURES / "aime24.jsonl")},
    "amc23": {"path": str(FIXTURES / "amc23.jsonl")},
    "gsm8k": {
        "train_path": str(FIXTURES / "gsm8k_train.jsonl"),
        "eval_path": str(FIXTURES / "gsm8k_test.jsonl"),
    },
    "gpqa_diamond": {"path": str(FIXTURES / "gpqa_diamond.jsonl")},
    "mmlu": {"path": str(FIXTURES / "mmlu.jsonl")},
    "mmlu_pro": {"path": str(FIXTURES / "mmlu_pro.jsonl")},
}
"""Each dataset task's ``data.sources`` entry pointing at its fixture."""

SUITE = """\
name: t
model: {name: Qwen/Qwen2.5-Math-1.5B}
train_task: math_train
eval:
  in_domain: [math500, aime24]
  forgetting: [mmlu]
  n_items: all
  task_items: {mmlu: 1000}
recipe: {name: grpo}
budget: {max_steps: 5}
seeds: [0]
adapters:
  - {name: lora, lr: 1.0e-5}
"""
"""A suite of dataset tasks on the real model (validated, never run)."""
