"""One GRPO run per case, timed update by update: what the harness-overhead benchmark and
``gpu_check.py`` compare.

Three cases on the same model, ``GRPOConfig`` (``trainer_config`` of the run spec), prompts, seed
and reward function:

- ``bare-trl``: ``trl.GRPOTrainer`` with the harness's reward function (the guarded verifier) and
  no harness callbacks; TRL's log printer and progress bar are removed, as the harness removes them;
- ``harness``: ``run_recipe`` (``HarnessGRPOTrainer``, the step timer, the divergence guard, the
  checkpoint extras);
- ``bare-trl-plain-reward``: bare TRL with the verifier called directly, without the guard's
  worker thread and timeout: what the guard itself costs.

``StepClock`` records the time between consecutive ``on_step_begin`` calls, so an interval holds
the whole update (rollouts, loss, optimizer, every callback's ``on_step_end`` and ``on_log``), and
the tokens TRL counted, so two cases can be checked to have done the same work.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

CASES = ("bare-trl", "harness", "bare-trl-plain-reward")


class StepClock(TrainerCallback):
    """Wall time from one ``on_step_begin`` to the next (the last update ends at ``on_train_end``),
    and TRL's running token count (``num_tokens``) at each log."""

    def __init__(self) -> None:
        self.marks: list[float] = []
        self.tokens: list[float] = []

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.marks.append(time.perf_counter())

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if logs and "num_tokens" in logs:
            self.tokens.append(float(logs["num_tokens"]))

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.marks.append(time.perf_counter())

    @property
    def intervals(self) -> list[float]:
        return [after - before for before, after in zip(self.marks, self.marks[1:], strict=False)]


def run_case(case: str, model: Any, tokenizer: Any, spec: Any, out: Path) -> StepClock:
    """Trains ``model`` in place for ``spec``'s budget as ``case`` does; returns its clock."""
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import GRPOConfig, GRPOTrainer

    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.registry import VERIFIERS
    from peft_rlvr_bench.rlvr.generation import add_stop_tokens
    from peft_rlvr_bench.rlvr.grpo import reward_function
    from peft_rlvr_bench.rlvr.train import run_recipe, trainer_config, training_items

    if case not in CASES:
        raise ValueError(f"unknown case {case!r}; one of {CASES}")
    clock = StepClock()
    gc.collect()  # the previous case's garbage is collected here, not during this case's updates
    if case == "harness":
        run_recipe(spec, model, tokenizer, out, callbacks=[clock])
        return clock
    context = RunContext()
    task = context.task(spec.train_task)
    # The task's stop tokens are what a completion is, not harness overhead: both sides use them.
    add_stop_tokens(model, tokenizer, task.stop or ())
    verifier_name = task.verifier
    if case == "bare-trl":
        reward = reward_function(verifier_name)
    else:
        verifier = VERIFIERS.get(verifier_name)

        def reward(completions: list[str], answer: list[str], **_: Any) -> list[float]:
            return [float(verifier(c, a)) for c, a in zip(completions, answer, strict=True)]

        reward.__name__ = verifier_name
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=GRPOConfig(**trainer_config(spec, context, out)),
        train_dataset=Dataset.from_list(
            [{"prompt": item.prompt, "answer": item.answer} for item in training_items(spec, context)]
        ),
        processing_class=tokenizer,
        callbacks=[clock],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.train()
    return clock
