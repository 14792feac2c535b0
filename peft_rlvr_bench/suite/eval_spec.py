"""The ``eval`` section of a suite: which tasks score which role, on how many items, and how."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from peft_rlvr_bench.schema import InputModel


class Strict(InputModel):
    """A spec section: unknown fields are errors, and a validated section never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SamplingSpec(Strict):
    """Sampled accuracy next to the greedy one: ``k`` samples per item give avg@k and pass@k."""

    k: int = Field(ge=1, description="samples per item")
    temperature: float = Field(1.0, description="sampling temperature (> 0)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling mass")
    seed: int = Field(0, ge=0, description="torch seed of the sampler: the same seed, the same samples")
    roles: list[Literal["in_domain", "out_of_domain", "forgetting"]] = Field(
        default_factory=lambda: ["in_domain"],
        min_length=1,
        description="roles whose tasks are sampled; each costs about k greedy evaluations",
    )

    @field_validator("temperature")
    @classmethod
    def _positive_temperature(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("temperature must be > 0; greedy accuracy is always reported, drop `sampling`")
        return value


class EvalSpec(Strict):
    """Which tasks score which role, how many greedy items each, and the depth measures."""

    in_domain: list[str] = Field(min_length=1)
    out_of_domain: list[str] = Field(default_factory=list)
    forgetting: list[str] = Field(default_factory=list)
    n_items: int | Literal["all"] = Field(
        500, description="held-out items per task, or `all` for each task's whole eval split"
    )
    task_items: dict[str, int] = Field(
        default_factory=dict, description="items of these tasks instead of n_items, e.g. {mmlu: 1000}"
    )
    curve_items: int | None = Field(
        None,
        gt=0,
        description="in-domain items per learning-curve point (the first n of the eval items, the "
        "same at every point, greedy only); unset: n_items. The curve is the costliest evaluation, "
        "and its points need fewer items than the final score",
    )
    batch_size: int = Field(256, gt=0)
    max_new_tokens: int = Field(8, gt=0)
    task_max_new_tokens: dict[str, Annotated[int, Field(gt=0)]] = Field(
        default_factory=dict,
        description="these tasks' generation length instead of max_new_tokens, e.g. {mmlu: 1024}",
    )
    sampling: SamplingSpec | None = Field(
        None, description="avg@k and pass@k on every task, e.g. {k: 8, temperature: 0.6, top_p: 0.95}"
    )
    kl_items: int = Field(
        64, ge=0, description="in-domain prompts per task for the KL to the base (pool-capped); 0 skips"
    )
    loss_items: int = Field(
        128, ge=0, description="items per forgetting task for the answer NLL (capped by the pool); 0 skips"
    )
    lm_eval_tasks: list[str] = Field(
        default_factory=list,
        description="lm-eval's own tasks scored beside the verifier tasks, as lm-eval ships them, e.g. "
        "[minerva_math500, aime24, gpqa_diamond_cot_zeroshot, mmlu_pro] (evaluation/shipped.py)",
    )
    lm_eval_include: list[str] = Field(
        default_factory=list, description="folders of lm-eval task YAMLs of your own for lm_eval_tasks"
    )
    keep_samples: bool = Field(
        True,
        description="write what the model answered on each item to results/<suite>/samples/<run_id>.jsonl.gz",
    )

    @field_validator("n_items")
    @classmethod
    def _positive_items(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value <= 0:
            raise ValueError("must be > 0, or `all`")
        return value

    @field_validator("task_items")
    @classmethod
    def _positive_task_items(cls, value: dict[str, int]) -> dict[str, int]:
        for task, count in value.items():
            if count <= 0:
                raise ValueError(f"{task}: must be > 0")
        return value

    def items_for(self, task: str) -> int | Literal["all"]:
        """How many eval items ``task`` gets: its ``task_items`` entry, else ``n_items``."""
        return self.task_items.get(task, self.n_items)

    def tokens_for(self, task: str) -> int:
        """How many new tokens ``task``'s answers may take: its ``task_max_new_tokens`` entry, else
        ``max_new_tokens``."""
        return self.task_max_new_tokens.get(task, self.max_new_tokens)

    def roles(self) -> dict[str, list[str]]:
        return {
            "in_domain": self.in_domain,
            "out_of_domain": self.out_of_domain,
            "forgetting": self.forgetting,
        }
