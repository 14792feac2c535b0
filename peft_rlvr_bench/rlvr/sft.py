"""The SFT control's loop: TRL's SFTTrainer on the RL training task, verified answers as targets.

The claims this harness tests contrast RLVR with SFT (update sparsity, spectral drift,
forgetting), so the control differs from an RL run in the loss only: same base, same adapter
and hooks, same learning rate and number of optimizer updates, prompts from the same train split
and seed. The targets are the tasks' answers, which the verifier accepts by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from datasets import Dataset
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from trl import SFTConfig, SFTTrainer

from peft_rlvr_bench.callbacks import StepTimer
from peft_rlvr_bench.reporting.results import StepRecord
from peft_rlvr_bench.rlvr.job import TrainingJob
from peft_rlvr_bench.rlvr.resilience import guard_callbacks, train_resumably


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


def train_sft(job: TrainingJob) -> list[StepRecord]:
    """Supervised fine-tuning of ``job.model`` in place; the curve has losses and no rewards."""
    if job.reference is not None:
        raise ValueError("the sft recipe has no KL term, so it takes no reference model")
    timer = StepTimer(job.on_update)
    optimizer = job.hooks.optimizer(job.model, job.config["learning_rate"]) if job.hooks.optimizer else None
    trainer = HarnessSFTTrainer(
        model=job.model,
        args=SFTConfig(**job.config),
        train_dataset=Dataset.from_list(
            [{"prompt": item.prompt, "completion": item.answer} for item in job.items]
        ),
        processing_class=job.tokenizer,
        callbacks=[timer, *job.hooks.callbacks, *job.callbacks, *guard_callbacks()],
        optimizers=(optimizer, None),
        extra_loss=job.hooks.extra_loss,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return train_resumably(trainer, timer.seconds, job.resume_from)
