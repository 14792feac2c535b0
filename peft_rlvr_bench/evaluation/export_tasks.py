"""A suite's evaluation as stock lm-eval tasks: YAMLs, their data and the verifier hook.

The harness fills its task template at run time (``lm_eval_task_config``); this writes the same
configs to files, so ``lm_eval --include_path DIR --tasks prb_add ...`` scores a saved run as the
harness did. ``scoring.py`` goes next to the YAMLs (lm-eval resolves ``!function`` there); it
calls the harness's verifiers, so ``peft_rlvr_bench`` must be importable (``docs/interop.md``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.evaluation import SAMPLED_TEMPLATE, lm_eval_task_config
from peft_rlvr_bench.reporting.results import write_text_atomic
from peft_rlvr_bench.suite import Suite

SCORING = SAMPLED_TEMPLATE.parent / "scoring.py"


class _Function(str):
    """A ``!function module.name`` reference, dumped as lm-eval's YAML tag."""


def _function_representer(dumper: yaml.SafeDumper, value: _Function) -> yaml.ScalarNode:
    return dumper.represent_scalar("!function", str(value))


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Function, _function_representer)


def _tagged(value: Any) -> Any:
    """lm-eval's loader turned ``!function scoring.x`` into the function: turn it back."""
    if callable(value):
        return _Function(f"scoring.{value.__name__}")
    if isinstance(value, dict):
        return {key: _tagged(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_tagged(item) for item in value]
    return value


def export_tasks(suite: Suite, out_dir: Path) -> list[str]:
    """Writes ``out_dir/<task>.yaml`` and ``out_dir/data/<task>.jsonl`` for every evaluation task
    of ``suite`` (greedy accuracy, and the sampled variant where ``eval.sampling`` is set), and
    ``scoring.py``; returns the lm-eval task names."""
    spec = suite.spec.eval
    context = RunContext.for_run(suite.spec.data, suite.spec.generation)
    tasks = sorted({task for names in spec.roles().values() for task in names})
    out_dir.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    for task in tasks:
        variants = [None] if spec.sampling is None else [None, spec.sampling]
        for sampling in variants:
            config = lm_eval_task_config(
                task, spec.items_for(task), spec.max_new_tokens, sampling=sampling, context=context
            )
            source = Path(config["dataset_kwargs"]["data_files"]["test"])
            data = out_dir / "data" / f"{config['task']}.jsonl"
            data.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, data)
            # lm-eval reads data_files relative to the working directory: an absolute path works
            # from anywhere (export again after moving the folder).
            config["dataset_kwargs"] = {"data_files": {"test": str(data.resolve())}}
            text = yaml.dump(_tagged(config), Dumper=_Dumper, sort_keys=False, allow_unicode=True)
            write_text_atomic(out_dir / f"{config['task']}.yaml", text)
            names.append(config["task"])
    write_text_atomic(out_dir / "scoring.py", SCORING.read_text())
    return names
