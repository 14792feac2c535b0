"""Suites for tests: a small valid suite to edit, tiny-world suites that train for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from peft_rlvr_bench.suite import load_suite

GOOD = """\
name: t
train_task: add
eval:
  in_domain: [add]
  forgetting: [copy]
recipe: {name: grpo}
budget: {max_steps: 5}
seeds: [0, 1]
adapters:
  - {name: full, lr: 1.0e-4}
  - {name: lora, r: 4, lr: 1.0e-3}
"""
"""A valid suite that tests edit into bad ones (or extend)."""


def write(tmp_path: Path, text: str, name: str = "suite.yaml") -> Path:
    """``text`` written to ``tmp_path / name``; its path."""
    path = tmp_path / name
    path.write_text(text)
    return path


TINY_SUITE = """\
name: {name}
model: {{name: tiny}}
train_task: {task}
eval: {{in_domain: [{task}], n_items: 16, kl_items: 0, loss_items: 0}}
recipe: {{name: grpo, prompts_per_step: {prompts}, num_generations: 4, beta: 0.0}}
budget: {{max_steps: {steps}}}
seeds: [0]
adapters:
{adapters}
"""


def tiny_suite(
    tmp_path: Path,
    adapters: list[str],
    task: str = "add",
    steps: int = 2,
    extra: str = "",
    prompts_per_step: int = 2,
) -> Any:
    """A loaded tiny-world suite named ``faults``: ``adapters`` are YAML flow mappings, ``extra``
    more top-level YAML (a trajectory or extrapolation section)."""
    text = TINY_SUITE.format(
        name="faults",
        task=task,
        steps=steps,
        prompts=prompts_per_step,
        adapters="\n".join(f"  - {a}" for a in adapters),
    )
    path = tmp_path / "faults.yaml"
    path.write_text(text + extra)
    return load_suite(path)


SCALE_SUITE: dict[str, Any] = {
    "name": "scale",
    "model": {"name": "tiny"},
    "train_task": "add",
    "eval": {"in_domain": ["add"], "out_of_domain": ["add_words"], "forgetting": ["copy"], "n_items": 16},
    "recipe": {"name": "grpo", "prompts_per_step": 2, "num_generations": 4, "beta": 0.04},
    "budget": {"max_steps": 3},
    "trajectory": {"every": 1},
    "seeds": [0],
    "adapters": [
        {"name": "full", "lr": 1.0e-4},
        {"name": "sparse", "mask": "rl_delta", "lr": 1.0e-4, "label": "sparse-rl"},
    ],
    "extrapolation": [{"name": "relex", "observe": 2, "target": 3}],
}
"""A tiny-world suite with a dependency (sparse-rl reads full's update) and an extrapolation, for
the plan, launches and the Ray backend."""


def write_scale_suite(tmp_path: Path, **changes: Any) -> Path:
    """``SCALE_SUITE`` with top-level ``changes``, written as ``<name>.yaml`` under ``tmp_path``."""
    data = {**SCALE_SUITE, **changes}
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


SHORT_EVAL_SUITE = """\
name: unit
train_task: add
eval: {in_domain: [add], n_items: 8, kl_items: 0, loss_items: 0}
recipe: {name: grpo}
budget: {max_steps: 2}
seeds: [0, 1]
adapters:
  - {name: full, lr: 1.0e-4}
"""
"""Two seeds of full fine-tuning scored on 8 items, without KL or NLL items."""


def load_short_eval_suite(tmp_path: Path, text: str = SHORT_EVAL_SUITE) -> Any:
    """``text`` (by default ``SHORT_EVAL_SUITE``) written as ``unit.yaml`` and loaded."""
    path = tmp_path / "unit.yaml"
    path.write_text(text)
    return load_suite(path)
