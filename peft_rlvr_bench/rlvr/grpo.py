"""The GRPO-family loop: TRL's GRPOTrainer with the task's verifier as reward (``rlvr/train.py``
says what each recipe computes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from datasets import Dataset
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from trl import GRPOConfig, GRPOTrainer
from trl.trainer.utils import add_fused_lm_head, disable_dropout_in_model

from peft_rlvr_bench.callbacks import StepTimer
from peft_rlvr_bench.reporting.results import StepRecord
from peft_rlvr_bench.rlvr.generation import add_stop_tokens, release_vllm, vllm_stop_kwargs
from peft_rlvr_bench.rlvr.job import TrainingJob
from peft_rlvr_bench.rlvr.resilience import guard_callbacks, train_resumably
from peft_rlvr_bench.rlvr.weight_sync import install_exact_sync
from peft_rlvr_bench.verifier_faults import guarded_batch_verifier

IS_MASKED_KEY = "sampling/is_masked_frac"
"""The logged share of completions (or tokens) whose importance-sampling weight is 0."""


def masked_share(ratio: torch.Tensor, completion_mask: torch.Tensor) -> torch.Tensor:
    """Per completion, the share of its weight TRL's vLLM importance-sampling correction zeroes:
    1 or 0 in the sequence modes (``ratio`` of shape (B, 1)), the share of its tokens in the token
    modes ((B, T)). A ratio that underflows to 0 counts too: its weight is 0 either way."""
    if ratio.shape[-1] == 1:
        return (ratio[:, 0] == 0).float()
    mask = completion_mask.bool()
    return ((ratio == 0) & mask).sum(1).float() / mask.sum(1).clamp(min=1)


def without_written_bos(prompts: list[str], tokenizer: Any) -> list[str]:
    """The prompts as TRL must receive them to see one BOS: TRL tokenizes a plain-text prompt
    with the tokenizer's special tokens, so where the tokenizer adds a BOS itself (DeepSeek-R1
    distills), a template that writes it out (``r1_distill``, for lm-eval and the KL measure,
    which add none to a prompt that has one) would start with two."""
    bos, bos_id = getattr(tokenizer, "bos_token", None), getattr(tokenizer, "bos_token_id", None)
    if not bos or bos_id is None or not any(prompt.startswith(bos) for prompt in prompts):
        return prompts
    probe = tokenizer("x")["input_ids"]
    if not probe or probe[0] != bos_id:
        return prompts
    return [prompt.removeprefix(bos) for prompt in prompts]


def reward_function(verifier_name: str) -> Callable[..., list[float]]:
    """The task's verifier as a TRL reward function over the dataset's ``answer`` column; a sample
    whose verifier raises or times out scores 0 and is counted (``verifier_faults``)."""
    verifier = guarded_batch_verifier(verifier_name)

    def reward(completions: list[str], answer: list[str], **_: Any) -> list[float]:
        return verifier(completions, answer)

    reward.__name__ = verifier_name
    return reward


class HarnessGRPOTrainer(GRPOTrainer):
    """TRL's GRPOTrainer with an exact vLLM weight sync for PEFT models (``rlvr/weight_sync.py``:
    the frozen base stays bitwise W0) and two additions, both off unless asked for:

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
        install_exact_sync(getattr(self, "vllm_generation", None))
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

    def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
        # TRL logs the importance-sampling ratios but not how much of the batch its masking modes
        # weigh 0; the share is what tells whether long completions are being dropped.
        output = super()._generate_and_score_completions(inputs)
        ratio = output.get("importance_sampling_ratio")
        if ratio is not None:
            mode = "train" if self.model.training else "eval"
            share = masked_share(ratio, output["completion_mask"])
            self._metrics[mode][IS_MASKED_KEY].append(self.accelerator.gather(share).mean().item())
        return output

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


def grpo_config_fields(
    config: dict[str, Any], eos_ids: list[int], stop: Any, tokenizer: Any
) -> dict[str, Any]:
    """``config`` with vLLM rollouts told to stop on ``eos_ids`` (the ids TRL's transformers path
    and its truncation mask use) instead of strings vLLM cannot match on special tokens."""
    if not config.get("use_vllm"):
        return config
    kwargs = {key: value for key, value in config.get("generation_kwargs", {}).items() if key != "stop"}
    return {**config, "generation_kwargs": {**kwargs, **vllm_stop_kwargs(eos_ids, stop, tokenizer)}}


def train_grpo(job: TrainingJob) -> list[StepRecord]:
    """Runs GRPO-family RL on ``job.model`` in place and returns the per-update curve.

    TRL's own printing and progress bar are removed so a suite's output stays readable.
    """
    stop = job.task.stop or ()
    eos_ids = add_stop_tokens(job.model, job.tokenizer, stop)  # e.g. <|im_end|> ends a completion
    config = grpo_config_fields(job.config, eos_ids, stop, job.tokenizer)
    timer = StepTimer(job.on_update)
    optimizer = job.hooks.optimizer(job.model, job.config["learning_rate"]) if job.hooks.optimizer else None
    trainer = HarnessGRPOTrainer(
        model=job.model,
        reward_funcs=[reward_function(job.task.verifier)],
        args=GRPOConfig(**config),
        train_dataset=Dataset.from_list(
            [
                {"prompt": prompt, "answer": item.answer}
                for prompt, item in zip(
                    without_written_bos([item.prompt for item in job.items], job.tokenizer),
                    job.items,
                    strict=True,
                )
            ]
        ),
        processing_class=job.tokenizer,
        callbacks=[timer, *job.hooks.callbacks, *job.callbacks, *guard_callbacks()],
        optimizers=(optimizer, None),
        reference=job.reference,
        extra_loss=job.hooks.extra_loss,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    try:
        return train_resumably(trainer, timer.seconds, job.resume_from)
    finally:  # a diverged or crashed run must not leave its engine or channel to the next one
        release_vllm(trainer)
