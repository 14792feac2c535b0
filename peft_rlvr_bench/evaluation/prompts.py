"""Prompts too long for the context: lm-eval cuts them from the left, silently (a log warning), when
prompt plus ``max_gen_toks`` exceed the model's context, which drops the template's head (system
prompt, chat markers) first. Counted per task so a result says when it happened."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def context_length(model: Any) -> int | None:
    """The model's context in tokens, as lm-eval resolves it from the config; None when unknown."""
    config = getattr(model, "config", None)
    config = getattr(config, "text_config", None) or config
    for name in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def truncated_prompts(model: Any, tokenizer: Any, config: dict[str, Any], max_new_tokens: int) -> int | None:
    """How many prompts of a harness task's lm-eval ``config`` (its JSONL data file) lm-eval would
    left-truncate for ``model``; None when the model's context is unknown."""
    context = context_length(model)
    if context is None:
        return None
    room = context - max_new_tokens
    data = Path(config["dataset_kwargs"]["data_files"]["test"])
    prompts = [json.loads(line)["prompt"] for line in data.read_text().splitlines() if line.strip()]
    return sum(len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) > room for prompt in prompts)
