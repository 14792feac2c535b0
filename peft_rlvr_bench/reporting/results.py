"""The run result: one self-describing JSON file per run, the only input of every leaderboard.

Files live at ``results/<suite>/runs/<run_id>.json``; the base model's evaluation lives at
``results/<suite>/base.json`` with the same shape and ``method == "base"``. Files are written
atomically (temporary file plus rename), so a half-written result never exists. What the model
answered item by item goes to a gzipped sidecar next to them (``reporting/samples.py``,
``docs/results.md``), never into the JSON.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer

from peft_rlvr_bench.environment import Environment
from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.atomic import write_text_atomic

SCHEMA_VERSION = 1
ROLES = ("in_domain", "out_of_domain", "forgetting")

Status = Literal["ok", "diverged", "failed"]


class TaskScore(BaseModel):
    """Greedy accuracy on one eval task, with the number of items behind it; optionally sampled
    accuracy (avg@k, pass@k over the same items) and the answer NLL (forgetting tasks)."""

    model_config = ConfigDict(extra="forbid")

    accuracy: float
    n: int
    k: int | None = Field(None, description="samples per item behind avg_at_k and pass_at_k")
    avg_at_k: float | None = Field(None, description="mean verifier score over the k samples, over items")
    pass_at_k: float | None = Field(
        None, description="unbiased pass@k (Chen et al. 2021) from the k samples, mean over items"
    )
    nll: float | None = Field(
        None, description="mean per-token NLL of the reference answers given their prompts"
    )
    nll_items: int | None = None
    nll_tokens: int | None = None
    truncated_prompts: int | None = Field(
        None,
        description="eval prompts longer than the model's context less the task's new tokens, which "
        "lm-eval cuts from the left (evaluation/prompts.py); None where not counted",
    )
    items: list[float] | None = Field(
        None,
        description="the greedy verifier score of every eval item, in eval-item order (lm-eval doc_id); "
        "their mean is accuracy",
    )
    sampled_items: list[float] | None = Field(
        None, description="per eval item, the mean verifier score of its k samples; their mean is avg_at_k"
    )
    items_digest: str | None = Field(
        None,
        description="sha256 (12 hex) of the eval items' prompts and answers in order: item scores of two "
        "results pair up only when their digests are equal",
    )

    @field_serializer("items", "sampled_items", when_used="json")
    def _short_numbers(self, values: list[float] | None) -> list[float | int] | None:
        # Shipped verifiers score 0 or 1: written as 0 and 1, not 0.0 and 1.0 (read back as floats).
        if values is None:
            return None
        return [int(v) if v.is_integer() else v for v in values]


def _mean_if_all(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present and len(present) == len(values) else None


class RoleScore(BaseModel):
    """A role's score: the unweighted mean of its tasks' accuracies (and of their sampled
    accuracies and answer NLLs, when every task has them)."""

    model_config = ConfigDict(extra="forbid")

    score: float
    n: int
    tasks: dict[str, TaskScore]
    k: int | None = None
    avg_at_k: float | None = None
    pass_at_k: float | None = None
    nll: float | None = None

    @classmethod
    def from_tasks(cls, tasks: dict[str, TaskScore]) -> RoleScore:
        scores = list(tasks.values())
        score = sum(t.accuracy for t in scores) / len(scores) if scores else float("nan")
        ks = {t.k for t in scores}
        return cls(
            score=score,
            n=sum(t.n for t in scores),
            tasks=tasks,
            k=ks.pop() if len(ks) == 1 else None,
            avg_at_k=_mean_if_all([t.avg_at_k for t in scores]),
            pass_at_k=_mean_if_all([t.pass_at_k for t in scores]),
            nll=_mean_if_all([t.nll for t in scores]),
        )


class KLScore(BaseModel):
    """``KL(pi_tuned || pi_base)`` over the tuned model's greedy completions of held-out
    in-domain prompts, exact per position (both full next-token distributions)."""

    model_config = ConfigDict(extra="forbid")

    token_mean: float = Field(description="mean over every completion token of every prompt")
    sequence_mean: float = Field(description="mean over prompts of the summed per-token KL")
    n_items: int
    n_tokens: int


class StepRecord(BaseModel):
    """One optimizer update of the RL run, as TRL logged it."""

    model_config = ConfigDict(extra="allow")

    step: int
    reward_mean: float | None = None
    reward_std: float | None = None
    loss: float | None = None
    kl: float | None = None
    step_seconds: float | None = None


class CurvePoint(BaseModel):
    """Greedy in-domain accuracy of a run's recorded checkpoint after ``update`` optimizer updates."""

    model_config = ConfigDict(extra="forbid")

    update: int
    in_domain: float
    n_items: int | None = Field(
        None, description="items per in-domain task behind the point (eval.curve_items); None: eval.n_items"
    )


class ItemSample(BaseModel):
    """What the model answered on one eval item: one line of a run's samples sidecar.

    ``response`` and ``score`` are the greedy answer (as the verifier saw it, cut at the stop
    strings) and its verifier score; ``responses`` and ``scores`` the ``k`` sampled answers, on
    tasks that ``eval.sampling`` covers."""

    model_config = ConfigDict(extra="forbid")

    task: str
    index: int = Field(description="position among the task's eval items (lm-eval's doc_id)")
    prompt: str
    target: str
    response: str
    score: float
    responses: list[str] | None = None
    scores: list[float] | None = None


class RunResult(BaseModel):
    """Everything needed to trust, reproduce and tabulate one run."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    suite: str
    run_id: str
    method: str = Field(description="the adapter entry's label; 'base' for the untouched model")
    seed: int | None
    status: Status
    reason: str | None = None
    spec: dict[str, Any]
    metrics: dict[str, RoleScore] = Field(default_factory=dict, description="keyed by role")
    trainable_params: int = 0
    total_params: int = 0
    train_curve: list[StepRecord] = Field(default_factory=list)
    learning_curve: list[CurvePoint] = Field(
        default_factory=list, description="in-domain accuracy at each recorded update (needs a trajectory)"
    )
    extrapolation: dict[str, Any] | None = Field(
        None,
        description="for a derived run: source_run_id, source_method, method, observe, target and "
        "updates_used (the real RL updates its checkpoint cost)",
    )
    geometry: dict[str, Any] | None = Field(
        None,
        description="a trained run's weight geometry against W0: geometry.GeometrySummary as JSON "
        "without its per-tensor records (params, headline, update_sparsity_all, by_layer_type, by_depth)",
    )
    lm_eval: dict[str, dict[str, float]] | None = Field(
        None,
        description="lm-eval's own scores on eval.lm_eval_tasks, as {task: {'metric,filter': value}} "
        "(evaluation/shipped.py); not verifier scores",
    )
    kl_to_base: KLScore | None = Field(
        None, description="a trained or derived run's KL drift from the base (evaluation.drift)"
    )
    train_config: dict[str, Any] | None = Field(
        None,
        description="the keyword arguments the harness gave TRL's GRPOConfig or SFTConfig (rlvr/train.py); "
        "the run id covers the part the spec decides, not the machine's (device, precision, logging)",
    )
    backends: dict[str, str] | None = Field(
        None, description="generation backends that ran: {rollout: transformers|vllm, eval: hf|vllm}"
    )
    launch: dict[str, Any] | None = Field(
        None,
        description="a run trained across processes (accelerate launch): its strategy and world_size",
    )
    divergence: dict[str, Any] | None = Field(
        None,
        description="a diverged run's update, the quantity that went non-finite (loss, grad_norm or a "
        "weight) and its last finite logged metrics; train_curve holds the finite updates",
    )
    verifier_faults: dict[str, Any] | None = Field(
        None,
        description="verifier calls of the run (RL reward and evaluation) and how many raised or timed "
        "out, each scored 0: calls, exceptions, timeouts, first_error",
    )
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per phase")
    peak_memory_mb: float | None = Field(
        None, description="peak resident memory of the process so far (runs of one suite share a process)"
    )
    gpu_memory: dict[str, Any] | None = Field(
        None,
        description="the run's GPU peak (reset when it starts): peak_allocated_mb and peak_reserved_mb of "
        "its process's allocator, device name and device_count; None without CUDA",
    )
    versions: dict[str, str] = Field(default_factory=dict)
    git: dict[str, Any] = Field(default_factory=dict)
    created_at: str | None = None
    samples: list[ItemSample] | None = Field(
        None,
        exclude=True,
        description="what the model answered, item by item; travels from the evaluation to the writer, "
        "which puts it in the samples sidecar (reporting/samples.py), never in the JSON",
    )
    environment: Environment | None = Field(
        None,
        description="the world's hash, the lock and the hardware (environment.Environment); None in "
        "results written before it was recorded",
    )


_ITEM_LIST = re.compile(r'("(?:items|sampled_items)": )\[\n([-+.eE\d,\s]*?)\]')
"""An indented list of per-item scores. The newline after ``[`` cannot occur inside a JSON string
(json escapes it), so only real lists match."""


def _inline_item_lists(text: str) -> str:
    """Puts every per-item score list on one line: 500 items are one line, not 500."""
    return _ITEM_LIST.sub(lambda m: m.group(1) + "[" + "".join(m.group(2).split()) + "]", text)


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Writes ``payload`` to ``path`` as indented, key-sorted JSON, atomically; per-item score
    lists stay on one line each."""
    write_text_atomic(path, _inline_item_lists(json.dumps(payload, indent=2, sort_keys=True)) + "\n")


def save_result(result: RunResult, path: Path) -> None:
    write_json_atomic(path, result.model_dump(mode="json"))


def load_result(path: Path) -> RunResult:
    return RunResult.model_validate_json(path.read_text())


def read_result(path: Path) -> RunResult:
    """``load_result``, with a truncated, empty, garbage or unreadable file as one ``UserError``
    line naming it."""
    try:
        return load_result(path)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        detail = " ".join((f"{where}: {first['msg']}" if where else first["msg"]).split())
        raise UserError(f"{path}: not a valid run result ({detail}); delete it and rerun the suite") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it ({exc}); delete it and rerun the suite") from exc


def run_result_path(results_root: Path, suite: str, run_id: str) -> Path:
    return results_root / suite / "runs" / f"{run_id}.json"


def base_result_path(results_root: Path, suite: str) -> Path:
    return results_root / suite / "base.json"
