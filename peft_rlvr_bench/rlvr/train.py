"""One RLVR run, top to bottom: prompts, reward, GRPOConfig, TRL's GRPOTrainer, the curve.

Kept short on purpose: a reader auditing a benchmark should see exactly which GRPO variant ran,
and every setting here is either the recipe's, the run spec's, or a CPU/GPU necessity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from trl import GRPOConfig, GRPOTrainer
from trl.trainer.utils import add_fused_lm_head, disable_dropout_in_model

from peft_rlvr_bench.adapters import TrainingHooks
from peft_rlvr_bench.callbacks import StepTimer
from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.registry import RECIPES
from peft_rlvr_bench.reporting.results import StepRecord
from peft_rlvr_bench.rlvr.generation import add_stop_tokens, release_vllm, rollout_fields
from peft_rlvr_bench.rlvr.resilience import checkpoint_fields, guard_callbacks, train_resumably
from peft_rlvr_bench.suite import RunSpec
from peft_rlvr_bench.verifier_faults import guarded_verifier


def reward_function(verifier_name: str) -> Callable[..., list[float]]:
    """The task's verifier as a TRL reward function over the dataset's ``answer`` column; a sample
    whose verifier raises or times out scores 0 and is counted (``verifier_faults``)."""
    verifier = guarded_verifier(verifier_name)

    def reward(completions: list[str], answer: list[str], **_: Any) -> list[float]:
        return [
            verifier(completion, expected) for completion, expected in zip(completions, answer, strict=True)
        ]

    reward.__name__ = verifier_name
    return reward


def training_prompts(spec: RunSpec, context: RunContext) -> Dataset:
    """Exactly the prompts the run's updates consume, drawn from the train split by run seed."""
    recipe_params = spec.recipe.params
    n_prompts = spec.budget.max_steps * recipe_params["prompts_per_step"]
    items = context.task(spec.train_task).items("train", n_prompts, spec.seed)
    return Dataset.from_list([{"prompt": item.prompt, "answer": item.answer} for item in items])


def grpo_config(spec: RunSpec, output_dir: Path, context: RunContext) -> GRPOConfig:
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
        logging_steps=1,
        report_to="none",
        **checkpoint_fields(spec),
        disable_tqdm=True,
        dataloader_num_workers=0,
        shuffle_dataset=True,
        **recipe.grpo_config_fields(params),
        # vLLM rollouts when the run's backend is vLLM (rlvr/generation.py), else transformers.
        **rollout_fields(context, context.task(spec.train_task).stop or ()),
    )


class HarnessGRPOTrainer(GRPOTrainer):
    """TRL's GRPOTrainer with two additions, both off unless asked for:

    - ``reference``: the KL reference is this separate copy of the original base. Without it,
      TRL's reference for a PEFT model is the adapter disabled (for PiSSA-like methods that is the
      residual, not the base) or a second "ref" adapter (which AdaLoRA cannot hold).
    - ``extra_loss``: an adapter's term added to the RL loss (AdaLoRA's regulariser), weighted
      once per optimizer update however many micro-batches make it (``accumulation_divisor``).
    """

    def __init__(
        self,
        *args: Any,
        reference: torch.nn.Module | None = None,
        extra_loss: Callable[[torch.nn.Module], torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> None:
        config: GRPOConfig = kwargs["args"]
        beta = config.beta
        own_reference = reference is not None and beta != 0.0
        if own_reference:
            config.beta = 0.0  # TRL then builds no reference of its own; beta is restored below
        super().__init__(*args, **kwargs)
        self.extra_loss = extra_loss
        if own_reference:
            config.beta = self.beta = beta
            self.ref_model = self._prepare_reference(reference)

    def _prepare_reference(self, reference: torch.nn.Module) -> torch.nn.Module:
        """What TRL does to the reference it builds itself (grpo_trainer.py, ``__init__``)."""
        if self.args.cast_lm_head_to_fp32:
            raise ValueError("cast_lm_head_to_fp32 is not supported with a harness-provided reference")
        reference.requires_grad_(False)
        if self.args.disable_dropout:
            disable_dropout_in_model(reference)
        add_fused_lm_head(reference, temperature=self.temperature, cast_lm_head_to_fp32=False)
        return self.accelerator.prepare_model(reference, evaluation_mode=True)

    def compute_loss(
        self, model: Any, inputs: Any, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> torch.Tensor:
        loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.extra_loss is not None:
            loss = loss + self.extra_loss(model) / self.accumulation_divisor()
        return loss

    def accumulation_divisor(self) -> int:
        """What a per-micro-batch loss term is divided by so that it counts once per optimizer update.

        GRPOTrainer divides its own loss by the accumulation count (``loss_is_scaled_for_ga``), so
        the Trainer sums the micro-batch gradients unscaled. A term added whole to every micro-batch
        would then weigh ``gradient_accumulation_steps`` times its coefficient; TRL divides its own
        extra terms (router aux loss, entropy bonus) the same way, and not in evaluation.
        """
        return self.current_gradient_accumulation_steps if self.model.training else 1


def train_rlvr(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    spec: RunSpec,
    output_dir: Path,
    hooks: TrainingHooks | None = None,
    reference: torch.nn.Module | None = None,
    on_update: Callable[[int], None] | None = None,
    callbacks: Sequence[Any] = (),
    resume_from: Path | None = None,
    context: RunContext | None = None,
) -> list[StepRecord]:
    """Runs GRPO-family RL on ``model`` in place and returns the per-update curve.

    ``hooks`` are the adapter's optimizer, callbacks and loss term. ``reference``, when given,
    is the KL reference (a separate copy of the original base; see ``HarnessGRPOTrainer``).
    ``callbacks`` are further trainer callbacks (the trajectory recorder).
    ``resume_from``: a trainer checkpoint of this run to continue from (``rlvr/resilience.py``).
    ``on_update(step)`` is called after every optimizer update (the runner's progress display);
    TRL's own printing and progress bar are removed so a suite's output stays readable.
    """
    hooks = hooks or TrainingHooks()
    context = context or RunContext()
    task = context.task(spec.train_task)
    add_stop_tokens(model, tokenizer, task.stop or ())  # e.g. <|im_end|> ends a completion
    timer = StepTimer(on_update)
    optimizer = hooks.optimizer(model, spec.adapter.lr) if hooks.optimizer else None
    trainer = HarnessGRPOTrainer(
        model=model,
        reward_funcs=[reward_function(task.verifier)],
        args=grpo_config(spec, output_dir, context),
        train_dataset=training_prompts(spec, context),
        processing_class=tokenizer,
        callbacks=[timer, *hooks.callbacks, *callbacks, *guard_callbacks()],
        optimizers=(optimizer, None),
        reference=reference,
        extra_loss=hooks.extra_loss,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    records = train_resumably(trainer, timer.seconds, resume_from)
    release_vllm(trainer)
    return records
