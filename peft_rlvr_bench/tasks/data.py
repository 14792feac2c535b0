"""A suite's ``data:`` section: the prompt template and the local sources of dataset tasks.

.. code-block:: yaml

    data:
      template: r1_distill                       # instead of each task's default (qwen_math)
      sources:
        math500: {path: /data/math500.jsonl}      # a file (.jsonl/.json/.parquet/.csv): the split itself
        gsm8k: {path: /data/gsm8k}                # a directory or hub id: every split the task reads
        math_train: {train_path: /data/math_train.parquet}
      reasoning_gym:                             # config fields of reasoning-gym tasks (rg:<dataset>)
        rg:chain_sum: {min_terms: 2, max_terms: 3}

These settings are part of every run's identity. A run hands them to its tasks explicitly
(``RunContext.task``, ``Task.with_data``), so every place that asks a task for items sees the
same data; no module holds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, Field

from peft_rlvr_bench.schema import InputModel

BOXED_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class PromptTemplate:
    """How a question becomes the prompt text, and the strings that end a completion."""

    text: str
    """``{question}`` is replaced by the question (no ``str.format``: LaTeX is full of braces)."""
    stop: tuple[str, ...] = ()
    """Generation stops at these (besides the tokenizer's EOS): lm-eval ``until``, TRL stop tokens."""
    description: str = ""

    def render(self, question: str) -> str:
        return self.text.replace("{question}", question)


TEMPLATES: dict[str, PromptTemplate] = {
    "qwen_math": PromptTemplate(
        "<|im_start|>system\n" + BOXED_INSTRUCTION + "<|im_end|>\n"
        "<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n",
        stop=("<|im_end|>", "<|endoftext|>"),
        description="Qwen2.5-Math's chain-of-thought chat prompt (also Qwen2.5/Qwen3 base models)",
    ),
    "r1_distill": PromptTemplate(
        "<｜begin▁of▁sentence｜><｜User｜>{question}\n" + BOXED_INSTRUCTION + "<｜Assistant｜><think>\n",
        stop=("<｜end▁of▁sentence｜>",),
        # The BOS is written out: TRL and lm-eval tokenize prompts without adding special tokens.
        description="DeepSeek-R1-Distill's recommended prompt",
    ),
    "boxed": PromptTemplate(
        "{question}\n" + BOXED_INSTRUCTION + "\n",
        description="plain text for models without a chat format",
    ),
    "plain": PromptTemplate("{question}", description="the question alone"),
}


class SourceOverride(InputModel):
    """Where a dataset task reads from instead of its registered default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(
        None, description="hub id, local directory, or data file (.jsonl/.json/.parquet/.csv) for every split"
    )
    train_path: str | None = Field(None, description="the train split's hub id, directory or file")
    eval_path: str | None = Field(None, description="the eval split's hub id, directory or file")
    name: str | None = Field(None, description="the dataset config (hub ids and directories)")
    revision: str | None = Field(None, description="a hub revision (commit, tag or branch)")


class DataSpec(InputModel):
    """A suite's ``data:`` section: the prompt template and local sources of dataset tasks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str | None = Field(
        None, description="prompt template of every dataset task: qwen_math, r1_distill, boxed or plain"
    )
    sources: dict[str, SourceOverride] = Field(
        default_factory=dict,
        description="{task: {path: ...}}: read these tasks from local files or other ids",
    )
    reasoning_gym: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="{rg:<dataset>: {field: value}}: reasoning-gym config fields (difficulty knobs)",
    )


class TemplatedPrompts:
    """For task dataclasses with ``template`` (the task's own) and ``data`` (the suite's settings)
    fields: the prompt template the suite chose, else the task's, and its stop strings."""

    template: str
    data: DataSpec

    @property
    def prompt_template(self) -> PromptTemplate:
        return TEMPLATES[self.data.template or self.template]

    @property
    def stop(self) -> tuple[str, ...]:
        return self.prompt_template.stop
