"""Comparing provenance: what makes results stale (the world, key package versions, the lock),
never the CPU alone; lock deviations as pip's equality sees them."""

from __future__ import annotations

from peft_rlvr_bench.environment import (
    Stamp,
    cpu_change,
    differences,
    lock_deviations,
    parse_lock,
)
from tests.helpers.provenance import HASH_B, PRESENT, VERSIONS, env


def test_differences_name_world_versions_and_lock_but_not_the_cpu() -> None:
    same = Stamp(VERSIONS, env(cpu="AMD EPYC 9B14"))
    assert differences(same, PRESENT) == []
    assert cpu_change(same, PRESENT) == "AMD EPYC 9B14 -> Intel(R) Xeon(R) Processor"
    older = {**VERSIONS, "transformers": "5.23.0", "python": "3.11.9", "peft_rlvr_bench": "0.0.9"}
    assert differences(Stamp(older, env(world=HASH_B, lock="d" * 64)), PRESENT) == [
        "world hash bbbbbbbbbbbb -> aaaaaaaaaaaa",
        "transformers 5.23.0 -> 5.24.0",
        "lock dddddddddddd -> cccccccccccc",
    ]
    # A result written before environments were recorded is judged on its versions alone.
    assert differences(Stamp(VERSIONS, None), PRESENT) == []
    assert differences(Stamp(older, None), PRESENT) == ["transformers 5.23.0 -> 5.24.0"]
    assert cpu_change(Stamp(VERSIONS, None), PRESENT) is None


def test_lock_deviations_follow_pips_equality() -> None:
    pins = parse_lock(
        "# header\ntorch==2.13.0\nTyping_Extensions==4.15.0 ; python_version < '4'\nnumpy==2.3.0\n"
    )
    assert pins == {"torch": "2.13.0", "typing-extensions": "4.15.0", "numpy": "2.3.0"}
    installed = {"torch": "2.13.0+cpu", "typing-extensions": "4.15.0", "numpy": "2.3.1"}
    assert lock_deviations(pins, installed) == {"numpy": "installed 2.3.1, lock 2.3.0"}
    assert lock_deviations(pins, {"torch": "2.13.0+cu128"}) == {}, "a package another platform lacks is fine"
