"""Architectures: parameter formulas against transformers, the built-in table, local configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peft_rlvr_bench.architecture import KNOWN, architecture_from_config, resolve_architecture
from peft_rlvr_bench.errors import UserError


def test_parameter_formulas_match_transformers() -> None:
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config

    small = {"hidden_size": 64, "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 100}
    heads = {"num_attention_heads": 4, "num_key_value_heads": 2}
    for config in (
        Qwen2Config(**small, **heads, tie_word_embeddings=True),
        Qwen3Config(**small, **heads, head_dim=32, tie_word_embeddings=False),
        LlamaConfig(**small, **heads, tie_word_embeddings=True),
    ):
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        expected = sum(p.numel() for p in model.parameters())
        assert architecture_from_config(config.to_dict(), "config.json").parameters() == expected


def test_the_table_gives_the_published_sizes() -> None:
    # Qwen2.5-1.5B by hand: embedding 151936 x 1536 (tied) + 28 blocks of q (1536^2 + 1536 bias),
    # k and v (1536 x 256 + 256 each), o (1536^2), MLP 3 x 1536 x 8960, two norms, + the final norm.
    block = (1536 * 1536 + 1536) + 2 * (1536 * 256 + 256) + 1536 * 1536 + 3 * 1536 * 8960 + 2 * 1536
    assert KNOWN["Qwen/Qwen2.5-Math-1.5B"].parameters() == 151936 * 1536 + 28 * block + 1536 == 1_543_714_304
    assert round(KNOWN["Qwen/Qwen3-4B-Base"].parameters() / 1e9, 2) == 4.02
    assert (
        round(KNOWN["deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"].parameters() / 1e9, 2) == 1.78
    )  # untied head


def test_architectures_come_from_a_local_config_or_fail_in_one_line(tmp_path: Path) -> None:
    config = {
        "model_type": "qwen2",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "intermediate_size": 96,
        "vocab_size": 100,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "tie_word_embeddings": True,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    arch, source = resolve_architecture("my-org/unknown", str(tmp_path))
    assert arch.hidden_size == 64 and source.endswith("config.json")
    with pytest.raises(UserError) as caught:
        resolve_architecture("my-org/unknown", None)
    assert "no local config.json and not in the built-in table" in str(caught.value)
    assert "\n" not in str(caught.value)
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "gpt2"}))
    with pytest.raises(UserError, match="model_type 'gpt2' has no parameter formula"):
        resolve_architecture("x", str(tmp_path))
