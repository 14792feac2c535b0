"""A prepared training job: what the training path (``rlvr/train.py``) hands a recipe's loop.

The loop (``rlvr/grpo.py``, ``rlvr/sft.py``) builds TRL's config and trainer from it and trains
the model in place; everything the job holds was decided before, where a reader can see it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from peft_rlvr_bench.adapters import TrainingHooks
    from peft_rlvr_bench.reporting.results import StepRecord
    from peft_rlvr_bench.tasks import Item, Task


@dataclass
class TrainingJob:
    """One recipe run on an adapted model, everything decided."""

    model: nn.Module
    """The adapted model, trained in place."""
    tokenizer: Any
    task: Task
    """The training task, bound to the run's data settings (its verifier and stop strings)."""
    items: Sequence[Item]
    """Exactly the items the run's updates consume, in order."""
    config: dict[str, Any]
    """The keyword arguments of TRL's ``GRPOConfig``/``SFTConfig``, recorded as ``train_config``."""
    hooks: TrainingHooks
    """The adapter's optimizer, callbacks and loss term."""
    reference: nn.Module | None = None
    """The KL reference: a separate copy of the original base (``beta > 0`` only)."""
    callbacks: Sequence[Any] = field(default_factory=list)
    """Further trainer callbacks: interventions, the trajectory recorder, the sharded gather."""
    on_update: Callable[[int], None] | None = None
    """Called after every optimizer update with its number (the runner's progress display)."""
    resume_from: Path | None = None
    """A trainer checkpoint of this run to continue from (``rlvr/resilience.py``)."""


TrainingLoop = Callable[[TrainingJob], "list[StepRecord]"]
"""A recipe's loop: trains ``job.model`` in place and returns the per-update curve."""
