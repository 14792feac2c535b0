"""What every result records of where it was made: world, lock and hardware."""

from __future__ import annotations

from peft_rlvr_bench.runner import provenance
from peft_rlvr_bench.suite import ModelSpec


def test_a_result_records_world_lock_and_hardware() -> None:
    import torch

    recorded = provenance.environment(ModelSpec(name="tiny"))
    assert recorded.world["artifact"] and len(recorded.world["hash"]) == 64
    assert recorded.lock is not None and recorded.lock.file == "requirements/cpu.txt"
    hardware = recorded.hardware
    assert hardware.cpu and hardware.cpu_count and hardware.torch_threads == torch.get_num_threads()
    assert (hardware.gpu_count, hardware.gpu is None) == (
        torch.cuda.device_count(),
        not torch.cuda.is_available(),
    )
