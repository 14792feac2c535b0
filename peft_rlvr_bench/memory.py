"""GPU memory of a run, estimated before anything is downloaded (``prb run SUITE --dry-run``).

Parameter counts come from the architecture alone: a built-in table of the models the shipped
suites use (``KNOWN``), or the ``config.json`` of a local ``model.path``. The formulas are those
of Llama-style decoders (Llama, Qwen2 with q/k/v biases, Qwen3 with q/k norms, Mistral); a
test checks them against transformers' own parameter counts.

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

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peft_rlvr_bench.errors import UserError

GIB = 1024**3
PROMPT_TOKENS = 512
"""Prompt tokens allowed for in the activation estimate (competition problems: 100-400)."""
BLOCK_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Architecture:
    """What the parameter count of a Llama-style decoder depends on."""

    model_type: str
    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    vocab_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int | None = None
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    """Qwen2: biases on q, k and v."""
    qk_norm: bool = False
    """Qwen3: RMSNorm on queries and keys (head_dim weights each)."""
    max_position_embeddings: int | None = None

    @property
    def head_size(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(out, in) of each linear layer of one block."""
        h, q, kv, i = (
            self.hidden_size,
            self.num_attention_heads * self.head_size,
            self.num_key_value_heads * self.head_size,
            self.intermediate_size,
        )
        return {
            "q_proj": (q, h),
            "k_proj": (kv, h),
            "v_proj": (kv, h),
            "o_proj": (h, q),
            "gate_proj": (i, h),
            "up_proj": (i, h),
            "down_proj": (h, i),
        }

    def norm_parameters(self) -> int:
        """Every normalisation weight: two per block, the final one, and Qwen3's q/k norms."""
        per_block = 2 * self.hidden_size + (2 * self.head_size if self.qk_norm else 0)
        return self.num_hidden_layers * per_block + self.hidden_size

    def parameters(self) -> int:
        """All parameters, counted once (a tied LM head shares the embedding)."""
        shapes = self.linear_shapes()
        linears = sum(out * inp for out, inp in shapes.values())
        biases = (shapes["q_proj"][0] + 2 * shapes["k_proj"][0]) if self.attention_bias else 0
        embedding = self.vocab_size * self.hidden_size
        head = 0 if self.tie_word_embeddings else embedding
        return self.num_hidden_layers * (linears + biases) + self.norm_parameters() + embedding + head


def _qwen2(
    hidden: int, layers: int, mlp: int, vocab: int, heads: int, kv: int, tied: bool, ctx: int
) -> Architecture:
    return Architecture("qwen2", hidden, layers, mlp, vocab, heads, kv, None, tied, True, False, ctx)


def _qwen3(hidden: int, layers: int, mlp: int, heads: int, kv: int, tied: bool) -> Architecture:
    return Architecture("qwen3", hidden, layers, mlp, 151936, heads, kv, 128, tied, False, True, 32768)


KNOWN: dict[str, Architecture] = {
    "Qwen/Qwen2.5-Math-1.5B": _qwen2(1536, 28, 8960, 151936, 12, 2, True, 4096),
    "Qwen/Qwen2.5-Math-7B": _qwen2(3584, 28, 18944, 152064, 28, 4, False, 4096),
    "Qwen/Qwen2.5-1.5B": _qwen2(1536, 28, 8960, 151936, 12, 2, True, 131072),
    "Qwen/Qwen2.5-7B": _qwen2(3584, 28, 18944, 152064, 28, 4, False, 131072),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": _qwen2(1536, 28, 8960, 151936, 12, 2, False, 131072),
    "Qwen/Qwen3-1.7B-Base": _qwen3(2048, 28, 6144, 16, 8, True),
    "Qwen/Qwen3-4B-Base": _qwen3(2560, 36, 9728, 32, 8, True),
    "Qwen/Qwen3-8B-Base": _qwen3(4096, 36, 12288, 32, 8, False),
    "meta-llama/Llama-3.2-1B": Architecture(
        "llama", 2048, 16, 8192, 128256, 32, 8, 64, True, False, False, 131072
    ),
    "meta-llama/Llama-3.1-8B": Architecture(
        "llama", 4096, 32, 14336, 128256, 32, 8, 128, False, False, False, 131072
    ),
}
"""Architectures of the models the shipped suites (and their obvious neighbours) name, from their
published ``config.json`` files."""

_LLAMA_STYLE = {"llama", "qwen2", "qwen3", "mistral"}


def architecture_from_config(config: dict[str, Any], where: str) -> Architecture:
    """An ``Architecture`` from a Hugging Face ``config.json`` mapping of a Llama-style decoder."""
    model_type = config.get("model_type", "?")
    if model_type not in _LLAMA_STYLE:
        raise UserError(
            f"{where}: model_type {model_type!r} has no parameter formula here (known: "
            f"{', '.join(sorted(_LLAMA_STYLE))}); the memory estimate is skipped for it"
        )
    try:
        heads = int(config["num_attention_heads"])
        return Architecture(
            model_type=model_type,
            hidden_size=int(config["hidden_size"]),
            num_hidden_layers=int(config["num_hidden_layers"]),
            intermediate_size=int(config["intermediate_size"]),
            vocab_size=int(config["vocab_size"]),
            num_attention_heads=heads,
            num_key_value_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=config.get("head_dim"),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            attention_bias=model_type == "qwen2" or bool(config.get("attention_bias", False)),
            qk_norm=model_type == "qwen3",
            max_position_embeddings=config.get("max_position_embeddings"),
        )
    except KeyError as exc:
        raise UserError(f"{where}: config.json lacks {exc.args[0]!r}; cannot count parameters") from None


def resolve_architecture(name: str, path: str | None) -> tuple[Architecture, str]:
    """The model's architecture and where it came from, without any download: a local
    ``config.json`` (``model.path``) first, then the built-in table."""
    if path is not None:
        config = Path(path).expanduser() / "config.json"
        if config.is_file():
            return architecture_from_config(json.loads(config.read_text()), str(config)), str(config)
    if name in KNOWN:
        return KNOWN[name], "built-in table"
    where = f"model.path {path}" if path else f"model {name!r}"
    raise UserError(
        f"{where}: no local config.json and not in the built-in table ({', '.join(sorted(KNOWN))}); "
        "set model.path to a directory holding its config.json for the memory estimate"
    )


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
