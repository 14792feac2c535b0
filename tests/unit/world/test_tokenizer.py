"""The tiny world's tokenizer."""

from __future__ import annotations

from pathlib import Path

from peft_rlvr_bench.world.build import WorldRecipe, build_world


def test_tokenizer_reloads_identically_and_keeps_digits_apart(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    recipe = WorldRecipe(
        mixture={"add": 100, "add_words": 100}, sft_steps=1, sft_batch_size=4, num_hidden_layers=1
    )
    build_world(recipe, tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    text = "sum of 417 and 38 is 455"
    assert tokenizer.decode(tokenizer(text).input_ids) == text
    assert tokenizer.tokenize("417+38=")[:3] == ["4", "1", "7"]
    assert tokenizer.eos_token == "<eos>" and tokenizer.bos_token is None
