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

from dataclasses import dataclass
from typing import Any

from peft_rlvr_bench.architecture import BLOCK_LINEARS, Architecture
from peft_rlvr_bench.errors import UserError

GIB = 1024**3
PROMPT_TOKENS = 512
"""Prompt tokens allowed for in the activation estimate (competition problems: 100-400)."""
# ---------------------------------------------------------------------------------------------
# Trainable parameters per adapter, from the target shapes alone (tests/test_adapters.py formulas)


def _targets(arch: Architecture, params: dict[str, Any]) -> list[tuple[int, int]]:
    names = params.get("target_modules") or list(BLOCK_LINEARS)
    shapes = arch.linear_shapes()
    chosen = [shapes[name.rsplit(".", 1)[-1]] for name in names if name.rsplit(".", 1)[-1] in shapes]
    return chosen * arch.num_hidden_layers


@dataclass(frozen=True)
class AdapterFootprint:
    trainable: int
    """Parameters with gradients and optimizer state (a sparse mask: the dense target weights)."""
    stored: int
    """Adapter weights held besides the base (LoRA-FA's frozen A included)."""
    mask_targets: int = 0
    """Sparse: coordinates of the masked weights."""


def adapter_footprint(name: str, params: dict[str, Any], arch: Architecture) -> AdapterFootprint:
    targets = _targets(arch, params)
    r = int(params.get("r", 8))
    low_rank = sum(r * (out + inp) for out, inp in targets)
    if name == "full":
        return AdapterFootprint(arch.parameters(), 0)
    if name in {"lora", "rslora", "lora_plus", "pissa", "olora", "milora", "geora"}:
        return AdapterFootprint(low_rank, low_rank)
    if name == "dora":
        count = low_rank + sum(out for out, _ in targets)
        return AdapterFootprint(count, count)
    if name == "lora_fa":
        return AdapterFootprint(sum(r * out for out, _ in targets), low_rank)
    if name == "adalora":
        init_r = int(params.get("init_r", 12))
        count = sum(init_r * (out + inp + 1) for out, inp in targets)
        return AdapterFootprint(count, count)
    if name == "vera":
        return AdapterFootprint(sum(r + out for out, _ in targets), sum(r + out for out, _ in targets))
    if name == "miss":
        return AdapterFootprint(sum(r * out for out, _ in targets), sum(r * out for out, _ in targets))
    if name == "ia3":
        count = sum(out for out, _ in targets)
        return AdapterFootprint(count, count)
    if name == "ln_tuning":
        return AdapterFootprint(arch.norm_parameters(), arch.norm_parameters())
    if name == "sparse":
        dense = sum(out * inp for out, inp in targets)
        return AdapterFootprint(dense, 0, mask_targets=dense)
    raise UserError(f"adapter {name!r}: no memory formula; the estimate is skipped for it")


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
        gradients=footprint.trainable * weight_bytes,
        optimizer=2 * footprint.trainable * weight_bytes,
        masks=footprint.mask_targets * (1 + weight_bytes),
        reference=total * weight_bytes if reference else 0,
        activations=tokens * per_token + logits,
        rollout_kv_cache=kv,
    )
