"""GPU memory of a run, estimated before anything is downloaded (``prb run SUITE --dry-run``).

Parameter counts come from the architecture alone (``architecture.py``: the tiny world, a local
``config.json``, a built-in table of the models the shipped suites use, or the Hugging Face
cache).

**The estimate** (bytes; ``b`` = bytes per stored weight, 4: the harness keeps fp32 master
weights and trains under bf16 autocast on a GPU):

- weights: ``P_total * b``;
- adapter weights: ``P_adapter * 4`` (peft keeps adapters in fp32);
- gradients: ``P_grad * b`` and AdamW: ``2 * P_grad * b`` (torch keeps both moments in the
  parameter's dtype), where ``P_grad`` is the trainable count, except for ``sparse``, whose
  gradient and moments are dense over every target weight (the mask is applied to them);
- sparse masks: ``P_targets * (1 + b)`` (a bool mask and, at most, every frozen value saved);
- reference model (``beta > 0``): ``P_total * b``, a separate copy of the base;
- activations, a stated allowance for one micro-batch of ``m`` sequences of ``T`` tokens
  (prompt allowance ``PROMPT_TOKENS`` + ``max_completion_length``), bf16: without gradient
  checkpointing ``m T L (8H + 4I) * 2`` (per layer: norm and attention inputs and outputs, q/k/v,
  the MLP's gate, up, activation and product), with it ``m T (L H + 8H + 4I) * 2`` (one input per
  layer, one layer recomputed); plus the logits, ``2 * m T V * 2`` (bf16 logits and their
  gradient) and ``T V * 4`` (one sequence's fp32 log-softmax at a time);
- rollouts with transformers generation hold a KV cache for the whole generation batch
  (``prompts_per_step * num_generations`` sequences): ``n T L * 2 * kv_heads * head_dim * 2``;
  it is freed before the backward pass, so the peak takes the larger of it and the activations.
  vLLM rollouts instead take their fixed share of the GPU (``vllm_gpu_memory_utilization``),
  reported beside the estimate.

Evaluation needs less than training (no gradients or optimizer) and is not estimated. The
figures are a floor for planning, not a guarantee: allocator fragmentation, CUDA context
(~0.5-1 GiB) and library workspaces come on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from peft_rlvr_bench.adapters import AdapterFootprint
from peft_rlvr_bench.architecture import Architecture
from peft_rlvr_bench.registry import ADAPTERS

GIB = 1024**3
PROMPT_TOKENS = 512
"""Prompt tokens allowed for in the activation estimate (competition problems: 100-400)."""


def adapter_footprint(name: str, params: Mapping[str, Any], arch: Architecture) -> AdapterFootprint:
    """What the registered adapter ``name`` trains and holds on ``arch`` (``Adapter.footprint``)."""
    adapter = ADAPTERS.get(name)()
    return adapter.footprint(arch, adapter.Params.model_validate(dict(params)))


# ---------------------------------------------------------------------------------------------
# The estimate


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes by component; ``total`` is the training peak (rollout KV cache or activations)."""

    weights: int
    adapter: int
    gradients: int
    optimizer: int
    masks: int
    reference: int
    activations: int
    rollout_kv_cache: int
    """Transformers generation only (0 with vLLM, whose share of the GPU is fixed)."""

    @property
    def static(self) -> int:
        return self.weights + self.adapter + self.gradients + self.optimizer + self.masks + self.reference

    @property
    def total(self) -> int:
        return self.static + max(self.activations, self.rollout_kv_cache)


def estimate_memory(
    arch: Architecture,
    footprint: AdapterFootprint,
    *,
    weight_bytes: int = 4,
    reference: bool = False,
    micro_batch: int = 1,
    sequence_tokens: int = PROMPT_TOKENS + 3000,
    gradient_checkpointing: bool = True,
    generation_batch: int = 0,
) -> MemoryEstimate:
    """The estimate of the module docstring; ``generation_batch`` > 0 adds transformers
    generation's KV cache for that many sequences (0: vLLM rollouts)."""
    h, layers, mlp, vocab = arch.hidden_size, arch.num_hidden_layers, arch.intermediate_size, arch.vocab_size
    total = arch.parameters()
    per_layer = (8 * h + 4 * mlp) * 2
    per_token = (layers * h * 2 + per_layer) if gradient_checkpointing else layers * per_layer
    tokens = micro_batch * sequence_tokens
    logits = 2 * tokens * vocab * 2 + sequence_tokens * vocab * 4
    kv = generation_batch * sequence_tokens * layers * 2 * arch.num_key_value_heads * arch.head_size * 2
    return MemoryEstimate(
        weights=total * weight_bytes,
        adapter=footprint.stored * 4,
        gradients=footprint.gradient * weight_bytes,
        optimizer=2 * footprint.gradient * weight_bytes,
        masks=footprint.mask_targets * (1 + weight_bytes),
        reference=total * weight_bytes if reference else 0,
        activations=tokens * per_token + logits,
        rollout_kv_cache=kv,
    )
