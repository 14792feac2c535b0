"""One RLVR run, top to bottom: prompts, reward, GRPOConfig, TRL's GRPOTrainer, the curve.

Kept short on purpose: a reader auditing a benchmark should see exactly which GRPO variant ran,
and every setting here is either the recipe's, the run spec's, or a CPU/GPU necessity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase, TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from trl import GRPOConfig, GRPOTrainer

from peft_rlvr_bench.registry import RECIPES, TASKS, VERIFIERS
from peft_rlvr_bench.reporting.results import StepRecord
from peft_rlvr_bench.suite import RunSpec

# TRL's log keys for the figures a run result keeps, under the result's names.
_LOGGED = {"reward": "reward_mean", "reward_std": "reward_std", "loss": "loss", "kl": "kl"}


def reward_function(verifier_name: str) -> Callable[..., list[float]]:
    """The task's verifier as a TRL reward function over the dataset's ``answer`` column."""
    verifier = VERIFIERS.get(verifier_name)

    def reward(completions: list[str], answer: list[str], **_: Any) -> list[float]:
        return [
            verifier(completion, expected) for completion, expected in zip(completions, answer, strict=True)
        ]

    reward.__name__ = verifier_name
    return reward


def training_prompts(spec: RunSpec) -> Dataset:
    """Exactly the prompts the run's updates consume, drawn from the train split by run seed."""
    recipe_params = spec.recipe.params
    n_prompts = spec.budget.max_steps * recipe_params["prompts_per_step"]
    items = TASKS.get(spec.train_task).items("train", n_prompts, spec.seed)
    return Dataset.from_list([{"prompt": item.prompt, "answer": item.answer} for item in items])


class StepTimer(TrainerCallback):
    """Wall time of each optimizer update, rollouts included; tells ``on_update`` of each."""

    def __init__(self, on_update: Callable[[int], None] | None = None) -> None:
        self.seconds: list[float] = []
        self._start = 0.0
        self._on_update = on_update

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.seconds.append(time.perf_counter() - self._start)
        if self._on_update is not None:
            self._on_update(state.global_step)


def grpo_config(spec: RunSpec, output_dir: Path) -> GRPOConfig:
    recipe = RECIPES.get(spec.recipe.name)()
    params = recipe.Params.model_validate(spec.recipe.params)
    on_gpu = torch.cuda.is_available()
    return GRPOConfig(
        output_dir=str(output_dir),
        max_steps=spec.budget.max_steps,
        learning_rate=spec.adapter.lr,
        lr_scheduler_type="constant_with_warmup",
        weight_decay=0.0,
        seed=spec.seed,
        data_seed=spec.seed,
        use_cpu=not on_gpu,
        bf16=on_gpu,
        gradient_checkpointing=False,  # tiny models: recomputation costs more than it saves
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        shuffle_dataset=True,
        **recipe.grpo_config_fields(params),
    )


def train_rlvr(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    spec: RunSpec,
    output_dir: Path,
    on_update: Callable[[int], None] | None = None,
) -> list[StepRecord]:
    """Runs GRPO-family RL on ``model`` in place and returns the per-update curve.

    ``on_update(step)`` is called after every optimizer update (the runner's progress display);
    TRL's own printing and progress bar are removed so a suite's output stays readable.
    """
    task = TASKS.get(spec.train_task)
    timer = StepTimer(on_update)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward_function(task.verifier)],
        args=grpo_config(spec, output_dir),
        train_dataset=training_prompts(spec),
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.train()
    return step_records(trainer.state.log_history, timer.seconds)


def step_records(log_history: list[dict[str, Any]], step_seconds: list[float]) -> list[StepRecord]:
    """TRL's per-step logs as result records (one per optimizer update)."""
    records: list[StepRecord] = []
    for entry in log_history:
        if "step" not in entry or not any(key in entry for key in _LOGGED):
            continue
        step = int(entry["step"])
        fields = {name: float(entry[key]) for key, name in _LOGGED.items() if key in entry}
        seconds = step_seconds[step - 1] if 0 < step <= len(step_seconds) else None
        records.append(StepRecord(step=step, step_seconds=seconds, **fields))
    return records
