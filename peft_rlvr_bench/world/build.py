"""Builds the tiny world: tokenizer + tiny Llama, SFT-pretrained with TRL on the task mixture.

The result is a plain Hugging Face directory in the user cache, keyed by a hash of the recipe,
so every later step loads it like any other model. The mixture deliberately under-trains the
in-domain family (``add``) so the base leaves RL room, and trains the forgetting families to
mastery so forgetting is measurable.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from peft_rlvr_bench.paths import cache_dir


class WorldRecipe(BaseModel):
    """Everything that determines the tiny world's bytes; its hash names the cache entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    vocab_size: int = 96
    hidden_size: int = 128
    intermediate_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    max_position_embeddings: int = 48
    mixture: dict[str, int] = Field(
        default_factory=lambda: {"add": 8000, "add_words": 3000, "copy": 3000, "max": 3000},
        description="SFT examples per task family.",
    )
    carry_slip: float = Field(
        0.6,
        description="in SFT sums whose units carry, the share of targets that drop the carry",
    )
    slip_tasks: tuple[str, ...] = ("add", "add_words")
    sft_steps: int = 1800
    sft_batch_size: int = 64
    sft_learning_rate: float = 3e-3

    def key(self) -> str:
        payload = json.dumps(self.model_dump(), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:12]


def world_dir(recipe: WorldRecipe) -> Path:
    return cache_dir() / "world" / recipe.key()


def ensure_world(recipe: WorldRecipe | None = None, on_step: Callable[[int], None] | None = None) -> Path:
    """Returns the directory of the built world, building it first when it is not cached."""
    recipe = recipe or WorldRecipe()
    target = world_dir(recipe)
    if (target / "model.safetensors").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename, so an interrupted build never leaves a half world.
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build_world(recipe, staging, on_step=on_step)
        try:
            os.replace(staging, target)
        except OSError:  # another process finished first: theirs is byte-identical
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def dropped_carry_answer(prompt: str) -> int | None:
    """``a + b - 10`` when the units digits of the prompt's two operands carry, else None."""
    a, b = (int(n) for n in re.findall(r"\d+", prompt))
    return a + b - 10 if a % 10 + b % 10 >= 10 else None


def sft_rows(recipe: WorldRecipe) -> list[dict[str, str]]:
    """The SFT mixture as prompt/completion rows, with the carry slips of the slip tasks.

    The slips are what gives RL room to work: the base learns both the right sum and the
    dropped-carry one, and prefers the wrong one on carrying sums (so greedy accuracy sits near
    the share of sums without a carry), yet samples the right one often enough for a verifiable
    reward to find it. Eval items and rewards always use the true sum.
    """
    from peft_rlvr_bench.registry import TASKS

    rng = random.Random(f"world:slips:{recipe.seed}")
    rows: list[dict[str, str]] = []
    for task_name, count in sorted(recipe.mixture.items()):
        for item in TASKS.get(task_name).items("train", count, recipe.seed):
            answer = item.answer
            if task_name in recipe.slip_tasks:
                slipped = dropped_carry_answer(item.prompt)
                if slipped is not None and rng.random() < recipe.carry_slip:
                    answer = str(slipped)
            rows.append({"prompt": item.prompt, "completion": answer})
    return rows


def build_world(recipe: WorldRecipe, out_dir: Path, on_step: Callable[[int], None] | None = None) -> None:
    """Trains tokenizer and model from scratch into ``out_dir``; the same recipe, the same bytes."""
    import torch
    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM, set_seed
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from peft_rlvr_bench.callbacks import StepTimer
    from peft_rlvr_bench.world.tokenizer import train_tokenizer

    set_seed(recipe.seed, deterministic=True)
    rows = sft_rows(recipe)
    tokenizer = train_tokenizer((r["prompt"] + " " + r["completion"] for r in rows), recipe.vocab_size)

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.num_hidden_layers,
        num_attention_heads=recipe.num_attention_heads,
        num_key_value_heads=recipe.num_attention_heads,
        max_position_embeddings=recipe.max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(recipe.seed)
    model = LlamaForCausalLM(config)
    dataset = Dataset.from_list(rows).shuffle(seed=recipe.seed)
    args = SFTConfig(
        output_dir=str(out_dir / "sft"),
        max_steps=recipe.sft_steps,
        per_device_train_batch_size=recipe.sft_batch_size,
        learning_rate=recipe.sft_learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, recipe.sft_steps // 20),
        weight_decay=0.0,
        seed=recipe.seed,
        data_seed=recipe.seed,
        use_cpu=True,
        bf16=False,
        report_to="none",
        save_strategy="no",
        logging_steps=50,
        max_length=recipe.max_position_embeddings,
        completion_only_loss=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[StepTimer(on_step)],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    shutil.rmtree(out_dir / "sft", ignore_errors=True)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "world_recipe.json").write_text(json.dumps(recipe.model_dump(), indent=2, sort_keys=True))
