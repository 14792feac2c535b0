"""Tiny random Llamas for unit tests: one builder, overridable per test."""

from __future__ import annotations

from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def tiny_llama(seed: int = 0, dtype: torch.dtype = torch.float32, **config: Any) -> LlamaForCausalLM:
    """A seeded random Llama: 2 layers, hidden 32, MLP 64, 4 heads, vocabulary 50, unless overridden."""
    torch.manual_seed(seed)
    settings: dict[str, Any] = {
        "vocab_size": 50,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "max_position_embeddings": 64,
    }
    return LlamaForCausalLM(LlamaConfig(**{**settings, **config})).to(dtype).eval()
