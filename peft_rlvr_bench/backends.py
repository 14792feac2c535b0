"""Generation backends: vLLM for rollouts (TRL ``use_vllm``) and evaluation (lm-eval's ``vllm``
model) when vLLM is installed and a GPU is present, else transformers generation.

``generation.backend`` in a suite says ``auto`` (the default), ``transformers`` or ``vllm``
(which fails the run, with the reason, where vLLM cannot run). The choice is made once per run
(``RunContext.for_run``), recorded in its result as ``backends: {rollout, eval}`` and handed to
the RL loop and the evaluation in that context. Learning-curve points and driven extrapolation
segments use the same choice.

Nothing here imports vLLM or torch at module level: ``prb validate`` stays light.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import ConfigDict, Field

from peft_rlvr_bench.schema import InputModel


class GenerationSpec(InputModel):
    """How completions are generated, for RL rollouts and for evaluation.

    Not part of any run id (like the device): vLLM and transformers sample the same distribution
    with different numerics. Each result records which backends ran (``backends``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["auto", "transformers", "vllm"] = Field(
        "auto", description="auto: vLLM when it is installed and a GPU is present, else transformers"
    )
    vllm_mode: Literal["colocate", "server"] = Field(
        "colocate", description="colocate: vLLM shares the training GPU; server: a `trl vllm-serve` process"
    )
    vllm_gpu_memory_utilization: float = Field(
        0.3, gt=0, le=1, description="share of the GPU vLLM may take (colocated rollouts and evaluation)"
    )
    vllm_server_base_url: str | None = Field(None, description="server mode: e.g. http://localhost:8000")
    vllm_max_model_len: int | None = Field(
        None, gt=0, description="vLLM context length; default: the model's"
    )
    vllm_eval_sleep: bool = Field(
        False,
        description="the run's evaluation engine sleeps between evaluations (vLLM sleep mode, level 2), "
        "giving its GPU share back to training; for driven methods or tight memory",
    )


@dataclass(frozen=True)
class Backends:
    rollout: Literal["transformers", "vllm"] = "transformers"
    eval: Literal["hf", "vllm"] = "hf"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def vllm_available() -> tuple[bool, str]:
    """(can vLLM run here, why not)."""
    if importlib.util.find_spec("vllm") is None:
        return False, "vllm is not installed (pip install -e '.[vllm]')"
    import torch

    if not torch.cuda.is_available():
        return False, "no CUDA GPU is visible"
    return True, ""


def require_backend(spec: GenerationSpec | None) -> None:
    """Before a suite starts: a suite that names ``backend: vllm`` where vLLM cannot run stops at
    once with a one-line error, instead of each run failing on it (or, with ``auto``, falling back to
    transformers generation, days slower on a real model)."""
    if spec is None or spec.backend != "vllm":
        return
    ok, why = vllm_available()
    if not ok:
        from peft_rlvr_bench.errors import UserError

        raise UserError(
            f"generation.backend: vllm, but {why}; install the GPU stack (docs/scaling.md) "
            "or set generation.backend: auto to fall back to transformers generation"
        )


def select_backends(spec: GenerationSpec | None) -> Backends:
    """The backends a run uses under ``spec`` on this machine."""
    spec = spec or GenerationSpec()
    if spec.backend == "transformers":
        return Backends()
    ok, why = vllm_available()
    if ok:
        return Backends(rollout="vllm", eval="vllm")
    if spec.backend == "vllm":
        raise RuntimeError(f"generation.backend is vllm, but {why}; set generation.backend: auto")
    return Backends()
