"""What a run is bound to besides its spec: its dataset settings, its generation settings, the
backends chosen for this machine and its evaluation engine.

One ``RunContext`` is made when a run starts (``for_run``) and handed explicitly to the training
path and the evaluation, so every rollout, evaluation and task read of the run agrees, and no
module keeps a process-wide setting that another run could leave behind. The run holds it in a
``with`` block, which shuts its evaluation engine down when the run ends (``eval_engine.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from peft_rlvr_bench.backends import Backends, GenerationSpec, select_backends
from peft_rlvr_bench.eval_engine import EvalEngine
from peft_rlvr_bench.registry import TASKS
from peft_rlvr_bench.tasks import Task
from peft_rlvr_bench.tasks.data import DataSpec


@dataclass(frozen=True)
class RunContext:
    """A run's data settings, generation settings, chosen backends (default: transformers
    generation, hf evaluation, every task as registered) and its vLLM evaluation engine, built
    at its first vLLM evaluation and shut down when the ``with`` block ends."""

    data: DataSpec = field(default_factory=DataSpec)
    generation: GenerationSpec = field(default_factory=GenerationSpec)
    backends: Backends = field(default_factory=Backends)
    eval_engine: EvalEngine = field(default_factory=EvalEngine, compare=False, repr=False)

    def __enter__(self) -> RunContext:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.eval_engine.close()

    @classmethod
    def for_run(
        cls,
        data: DataSpec | None,
        generation: GenerationSpec | None,
        timings: dict[str, float] | None = None,
    ) -> RunContext:
        """The context of a run with these suite sections, its backends chosen on this machine
        (``backends.select_backends``: raises where ``vllm`` is asked for and cannot run); its
        evaluation engine adds its seconds to ``timings``."""
        return cls(
            data or DataSpec(),
            generation or GenerationSpec(),
            select_backends(generation),
            EvalEngine(seconds=timings),
        )

    def task(self, name: str) -> Task:
        """The registered task ``name`` reading under this run's data settings."""
        return TASKS.get(name).with_data(self.data)
