"""Builds the tiny world: tokenizer + tiny Llama, SFT-pretrained with TRL on the task mixture.

The result is a plain Hugging Face directory, so every later step loads it like any other model.
The mixture deliberately under-trains the in-domain family (``add``) so the base leaves RL room,
and trains the forgetting families to mastery so forgetting is measurable.

The default recipe's world is committed as package data (``world.artifact``) and loaded from
there, hash-checked: the same recipe gives the same bytes on one machine, but float kernels differ
across processors, so a rebuild elsewhere is a different model. Other recipes are built on first
use into the user cache, keyed by the recipe's hash.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from peft_rlvr_bench.paths import cache_dir
from peft_rlvr_bench.world.artifact import committed_world_for, verify_world, write_sums
from peft_rlvr_bench.world.recipe import RECIPE_NAME, WorldRecipe, recipe_json

__all__ = ["WorldRecipe", "build_world", "ensure_world", "world_dir", "world_is_built"]


def cache_world_dir(recipe: WorldRecipe) -> Path:
    """Where a recipe without a committed world is built: the user cache, keyed by its hash."""
    return cache_dir() / "world" / recipe.key()


def world_dir(recipe: WorldRecipe) -> Path:
    """Where the recipe's world lives: its committed artifact, else its cache entry."""
    committed = committed_world_for(recipe)
    return committed.directory if committed is not None else cache_world_dir(recipe)


def world_is_built(recipe: WorldRecipe) -> bool:
    """True when the world can be loaded without building it first."""
    return (world_dir(recipe) / "model.safetensors").exists()


def ensure_world(recipe: WorldRecipe | None = None, on_step: Callable[[int], None] | None = None) -> Path:
    """Returns the directory of the recipe's world: the committed artifact after checking its
    hashes (UserError on a mismatch), else the cache entry, building it first when missing."""
    recipe = recipe or WorldRecipe()
    committed = committed_world_for(recipe)
    if committed is not None:
        verify_world(committed.directory)
        return committed.directory
    target = cache_world_dir(recipe)
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


def column_slipped_answer(prompt: str, slips: tuple[float, ...], rng: random.Random) -> int:
    """The prompt's operands summed column by column, each carry dropped with its column's share.

    ``slips[i]`` is the chance that a carry out of column ``i`` (units first) is dropped; the last
    share serves every further column. The draw is made only where a carry happens, so sums
    without a carry are always right.
    """
    operands = [int(n) for n in re.findall(r"\d+", prompt)]
    width = max(len(str(operand)) for operand in operands)
    carry, value = 0, 0
    for column in range(width):
        total = sum((operand // 10**column) % 10 for operand in operands) + carry
        value += (total % 10) * 10**column
        carry = total // 10
        if carry and rng.random() < slips[min(column, len(slips) - 1)]:
            carry = 0
    return value + carry * 10**width


def sft_rows(recipe: WorldRecipe) -> list[dict[str, str]]:
    """The SFT mixture as prompt/completion rows, with the carry slips of the slip tasks.

    The slips are what gives RL room to work: with a slip drawn per carry column, the base learns
    the right sum and the sums that drop one or more carries, and prefers a wrong one on most
    carrying sums (about three in four 2-3 digit sums carry somewhere), yet samples the right one
    often enough for a verifiable reward to find it. Eval items and rewards always use the true sum.
    """
    from peft_rlvr_bench.registry import TASKS

    rng = random.Random(f"world:slips:{recipe.seed}")
    rows: list[dict[str, str]] = []
    for task_name, count in sorted(recipe.mixture.items()):
        for item in TASKS.get(task_name).items("train", count, recipe.seed):
            answer = item.answer
            if task_name in recipe.slip_tasks:
                answer = str(column_slipped_answer(item.prompt, recipe.carry_slips, rng))
            rows.append({"prompt": item.prompt, "completion": answer})
    return rows


def build_world(recipe: WorldRecipe, out_dir: Path, on_step: Callable[[int], None] | None = None) -> str:
    """Trains tokenizer and model from scratch into ``out_dir`` with its ``SHA256SUMS``; returns
    the world hash. The same recipe gives the same bytes on the same processor family and
    library versions: the build runs on one thread whatever the caller's setting."""
    import torch

    # Float reductions split differently across threads, and thousands of SFT steps amplify the
    # last-bit differences into a different model: one thread takes the thread count out of it.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _build_world_single_thread(recipe, out_dir, on_step)
    finally:
        torch.set_num_threads(threads)


def _build_world_single_thread(
    recipe: WorldRecipe, out_dir: Path, on_step: Callable[[int], None] | None
) -> str:
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
    (out_dir / RECIPE_NAME).write_text(recipe_json(recipe))
    return write_sums(out_dir)
