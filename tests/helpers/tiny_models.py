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


# The adapter matrix's model: two small blocks whose every linear shape is distinct enough that a
# parameter-count formula with a wrong dimension fails.
HIDDEN, MLP, LAYERS, VOCAB = 32, 64, 2, 50

INPUTS = torch.randint(0, VOCAB, (3, 12), generator=torch.Generator().manual_seed(1))
"""A fixed batch of token ids for comparing logits."""


def tiny_model(seed: int = 0) -> LlamaForCausalLM:
    """The adapter matrix's tiny Llama, tied embeddings, with non-trivial norm weights."""
    model = tiny_llama(
        seed,
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=MLP,
        num_hidden_layers=LAYERS,
        max_position_embeddings=32,
        tie_word_embeddings=True,
    )
    # Non-trivial norm weights, so a method that touched them at init would show.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.uniform_(0.5, 1.5)
    return model
