"""Loading the base model: the embedded tiny world, a local directory, or a Hugging Face id."""

from __future__ import annotations

from typing import Any

from peft_rlvr_bench.suite import TINY_MODEL, ModelSpec


def model_location(spec: ModelSpec) -> str:
    """Where the base loads from; builds the tiny world on first use."""
    if spec.name == TINY_MODEL:
        from peft_rlvr_bench.world.build import ensure_world

        assert spec.world is not None  # filled in by ModelSpec's validator
        return str(ensure_world(spec.world))
    return spec.path or spec.name


def load_base(spec: ModelSpec, device: str = "cpu") -> tuple[Any, Any]:
    """(model, tokenizer) in fp32 on ``device``; the tokenizer pads on the left for generation."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    location = model_location(spec)
    # Remote code runs only where the suite asked for it; weights load from safetensors, or
    # through transformers' torch.load(weights_only=True) for older .bin checkpoints.
    trust = spec.trust_remote_code
    tokenizer = AutoTokenizer.from_pretrained(location, padding_side="left", trust_remote_code=trust)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(location, dtype=torch.float32, trust_remote_code=trust)
    model = model.to(device)
    return model, tokenizer
