"""Generation backends: vLLM for rollouts (TRL ``use_vllm``) and evaluation (lm-eval's ``vllm``
model) when vLLM is installed and a GPU is present, else transformers generation.

``generation.backend`` in a suite says ``auto`` (the default), ``transformers`` or ``vllm``
(which fails the run, with the reason, where vLLM cannot run). The choice is made once per run
(``activate``), recorded in its result as ``backends: {rollout, eval}`` and read by the RL loop
and the evaluation. Learning-curve points and driven extrapolation segments use the same choice.

Nothing here imports vLLM or torch at module level: ``prb validate`` stays light.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from typing import Literal

from peft_rlvr_bench.suite import GenerationSpec


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


_active: tuple[GenerationSpec, Backends] = (GenerationSpec(), Backends())


def activate(spec: GenerationSpec | None) -> Backends:
    """Chooses this run's backends and makes them the process's current ones."""
    global _active
    backends = select_backends(spec)
    _active = (spec or GenerationSpec(), backends)
    return backends


def active() -> tuple[GenerationSpec, Backends]:
    """The current run's generation settings and backends (transformers/hf until a run activates)."""
    return _active


def prepare_run(data: object | None, generation: GenerationSpec | None) -> dict[str, str]:
    """What every run (and the base evaluation) does first: binds the suite's dataset settings
    (``tasks.hf_datasets.bind``) and chooses its backends; returns them for the result."""
    from peft_rlvr_bench.tasks.hf_datasets import DataSpec, bind

    bind(data if isinstance(data, DataSpec) else None)
    return activate(generation).as_dict()
