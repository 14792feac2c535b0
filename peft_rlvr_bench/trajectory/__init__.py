"""Weight trajectories: the trainable state recorded every k optimizer updates, read back per tensor.

- ``manifest``: what a trajectory directory holds and at which updates (the format);
- ``recorder``: ``TrajectoryRecorder``, the trainer callback that writes the records;
- ``reader``: ``Trajectory`` and the effective weights rebuilt against the original W0.
"""

from peft_rlvr_bench.trajectory.manifest import (
    FROZEN_FILE,
    MANIFEST,
    PEFT_CONFIG_FILE,
    FrozenEntry,
    Manifest,
    RecordEntry,
)
from peft_rlvr_bench.trajectory.reader import (
    Trajectory,
    base_weight_name,
    effective_series,
    effective_weight_names,
    rebuilds_per_tensor,
)
from peft_rlvr_bench.trajectory.recorder import TrajectoryRecorder

__all__ = [
    "FROZEN_FILE",
    "MANIFEST",
    "PEFT_CONFIG_FILE",
    "FrozenEntry",
    "Manifest",
    "RecordEntry",
    "Trajectory",
    "TrajectoryRecorder",
    "base_weight_name",
    "effective_series",
    "effective_weight_names",
    "rebuilds_per_tensor",
]
