"""What a run is bound to besides its spec: its dataset settings, its generation settings and the
backends chosen for this machine.

One ``RunContext`` is made when a run starts (``for_run``) and handed explicitly to the training
path and the evaluation, so every rollout, evaluation and task read of the run agrees, and no
module keeps a process-wide setting that another run could leave behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peft_rlvr_bench.backends import Backends, GenerationSpec, select_backends
from peft_rlvr_bench.registry import TASKS
from peft_rlvr_bench.tasks import Task
from peft_rlvr_bench.tasks.data import DataSpec


@dataclass(frozen=True)
class RunContext:
    """A run's data settings, generation settings and chosen backends (default: transformers
    generation, hf evaluation, every task as registered)."""

    data: DataSpec = field(default_factory=DataSpec)
    generation: GenerationSpec = field(default_factory=GenerationSpec)
    backends: Backends = field(default_factory=Backends)

    @classmethod
    def for_run(cls, data: DataSpec | None, generation: GenerationSpec | None) -> RunContext:
        """The context of a run with these suite sections, its backends chosen on this machine
        (``backends.select_backends``: raises where ``vllm`` is asked for and cannot run)."""
        return cls(data or DataSpec(), generation or GenerationSpec(), select_backends(generation))

    def task(self, name: str) -> Task:
        """The registered task ``name`` reading under this run's data settings."""
        return TASKS.get(name).with_data(self.data)
