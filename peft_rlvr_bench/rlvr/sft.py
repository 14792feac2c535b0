"""The SFT control: TRL's SFTTrainer on the RL training task, verified answers as targets.

The claims this harness tests contrast RLVR with SFT (update sparsity, spectral drift,
forgetting), so the control differs from an RL run in the loss only: same base, same adapter
and hooks, same learning rate and number of optimizer updates, prompts from the same train split
and seed. The targets are the tasks' answers, which the verifier accepts by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from trl import SFTConfig, SFTTrainer

from peft_rlvr_bench.adapters import TrainingHooks
from peft_rlvr_bench.callbacks import StepTimer
from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.distributed import per_process
from peft_rlvr_bench.registry import RECIPES
from peft_rlvr_bench.reporting.results import StepRecord
from peft_rlvr_bench.rlvr.recipes import SFTParams
from peft_rlvr_bench.rlvr.resilience import checkpoint_fields, guard_callbacks, train_resumably
from peft_rlvr_bench.suite import RunSpec


def sft_examples(spec: RunSpec, params: SFTParams, context: RunContext) -> Dataset:
    """Exactly the examples the run's updates consume: prompts with their verified answers."""
    items = context.task(spec.train_task).items("train", spec.budget.max_steps * params.batch_size, spec.seed)
    return Dataset.from_list([{"prompt": item.prompt, "completion": item.answer} for item in items])


def sft_config(spec: RunSpec, params: SFTParams, output_dir: Path) -> SFTConfig:
    on_gpu = torch.cuda.is_available()
    return SFTConfig(
        output_dir=str(output_dir),
        max_steps=spec.budget.max_steps,
        per_device_train_batch_size=per_process(params.batch_size, "batch_size"),
        learning_rate=spec.adapter.lr,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=params.warmup_steps,
        max_grad_norm=params.max_grad_norm,
        weight_decay=0.0,
        seed=spec.seed,
        data_seed=spec.seed,
        use_cpu=not on_gpu,
        bf16=on_gpu,
        gradient_checkpointing=False,
        max_length=params.max_length,
        completion_only_loss=True,  # the answer is the target, as in the RL reward
        logging_steps=1,
        report_to="none",
        **checkpoint_fields(spec),
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


class HarnessSFTTrainer(SFTTrainer):
    """SFTTrainer plus an adapter's loss term (AdaLoRA's regulariser), as in RL runs."""

    def __init__(
        self, *args: Any, extra_loss: Callable[[torch.nn.Module], torch.Tensor] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.extra_loss = extra_loss

    def compute_loss(
        self, model: Any, inputs: Any, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        outcome = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        if self.extra_loss is None:
            return outcome
        if return_outputs:
            loss, outputs = outcome
            return loss + self.extra_loss(model), outputs
        return outcome + self.extra_loss(model)


def train_sft(
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
    """Supervised fine-tuning of ``model`` in place; the same signature as ``train_rlvr``.

    ``reference`` is accepted for that symmetry and must be None: SFT has no KL term.
    """
    if reference is not None:
        raise ValueError("the sft recipe has no KL term, so it takes no reference model")
    hooks = hooks or TrainingHooks()
    params = RECIPES.get(spec.recipe.name).Params.model_validate(spec.recipe.params)
    timer = StepTimer(on_update)
    optimizer = hooks.optimizer(model, spec.adapter.lr) if hooks.optimizer else None
    trainer = HarnessSFTTrainer(
        model=model,
        args=sft_config(spec, params, output_dir),
        train_dataset=sft_examples(spec, params, context or RunContext()),
        processing_class=tokenizer,
        callbacks=[timer, *hooks.callbacks, *callbacks, *guard_callbacks()],
        optimizers=(optimizer, None),
        extra_loss=hooks.extra_loss,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return train_resumably(trainer, timer.seconds, resume_from)
