"""The memory estimate of the dry run, checked against hand computations."""

from __future__ import annotations

import pytest

from peft_rlvr_bench.architecture import KNOWN
from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.memory import AdapterFootprint, adapter_footprint, estimate_memory


def test_full_fine_tuning_of_1_5b_in_bf16_with_adamw_is_8_bytes_a_parameter_plus_activations() -> None:
    arch = KNOWN["Qwen/Qwen2.5-Math-1.5B"]
    full = adapter_footprint("full", {}, arch)
    estimate = estimate_memory(arch, full, weight_bytes=2, micro_batch=1, sequence_tokens=1024)
    params = 1_543_714_304
    # bf16 weights 2 B + bf16 gradients 2 B + two AdamW moments in bf16 4 B = 8 B per parameter.
    assert estimate.static == 8 * params  # 12.35 GB
    # One 1024-token sequence with checkpointing: 28 x 1536 x 2 B stored inputs + one recomputed
    # layer (8 x 1536 + 4 x 8960) x 2 B per token = 182 KiB/token -> 0.19 GB; bf16 logits and their
    # gradient 2 x 1024 x 151936 x 2 B = 0.62 GB; one fp32 log-softmax 1024 x 151936 x 4 B = 0.62 GB.
    assert 1.40e9 < estimate.activations < 1.46e9
    assert 13.7e9 < estimate.total < 13.85e9
    # The harness's own setting (fp32 master weights, 16 B a parameter) and a KL reference copy.
    fp32 = estimate_memory(arch, full, weight_bytes=4, reference=True, micro_batch=1, sequence_tokens=1024)
    assert fp32.static == 16 * params + 4 * params


def test_adapters_cost_their_factors_and_sparse_its_dense_targets() -> None:
    arch = KNOWN["Qwen/Qwen2.5-Math-1.5B"]
    shapes = arch.linear_shapes().values()
    lora = adapter_footprint("lora", {"r": 32}, arch)
    assert lora.trainable == 28 * sum(32 * (out + inp) for out, inp in shapes) == 36_929_536
    sparse = adapter_footprint("sparse", {"mask": "rl_delta"}, arch)
    assert sparse.gradient == sparse.mask_targets == 28 * sum(out * inp for out, inp in shapes)
    assert sparse.trainable is None, "an rl_delta mask's size is known once the full run exists"
    estimate = estimate_memory(arch, lora, micro_batch=1, sequence_tokens=1024)
    assert estimate.gradients + estimate.optimizer == 12 * lora.trainable
    assert isinstance(lora, AdapterFootprint)


def test_an_adapter_without_a_formula_skips_the_estimate_in_one_line() -> None:
    from peft_rlvr_bench.adapters import AdapterDefaults, AdapterParams
    from peft_rlvr_bench.registry import ADAPTERS

    class MyPlugin(AdapterDefaults):
        Params = AdapterParams

    ADAPTERS.register("my_plugin")(MyPlugin)
    try:
        with pytest.raises(UserError, match="no memory formula"):
            adapter_footprint("my_plugin", {}, KNOWN["Qwen/Qwen2.5-Math-1.5B"])
    finally:
        ADAPTERS._loaded.pop("my_plugin")
