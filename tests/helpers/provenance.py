"""Hand-made provenance: package versions and environments (world, lock, hardware) to stamp results with."""

from __future__ import annotations

from typing import Any

from peft_rlvr_bench.environment import Environment, Hardware, LockState, Stamp
from peft_rlvr_bench.reporting.results import RunResult

VERSIONS = {
    "python": "3.11.7",
    "torch": "2.13.0+cpu",
    "transformers": "5.24.0",
    "trl": "1.16.0",
    "peft_rlvr_bench": "0.1.0",
}
HASH_A, HASH_B = "a" * 64, "b" * 64


def env(world: str = HASH_A, cpu: str = "Intel(R) Xeon(R) Processor", lock: str = "c" * 64) -> Environment:
    """An environment of the tiny world with this hash, CPU and lock hash."""
    return Environment(
        world={"model": "tiny", "artifact": "tiny-v2", "recipe_key": "k", "hash": world},
        lock=LockState(file="requirements/cpu.txt", sha256=lock),
        hardware=Hardware(cpu=cpu, cpu_count=2, torch_threads=2),
    )


PRESENT = Stamp(VERSIONS, env())
"""This process as the tests pretend it is."""


def stamped(result: RunResult, versions: dict[str, str] = VERSIONS, **kwargs: Any) -> RunResult:
    """``result`` made under ``versions`` and ``env(**kwargs)``."""
    return result.model_copy(update={"versions": versions, "environment": env(**kwargs)})
