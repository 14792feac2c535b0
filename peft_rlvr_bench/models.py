"""Loading the base model: the embedded tiny world, a local directory, or a Hugging Face id."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.suite import TINY_MODEL, ModelSpec

_SNAPSHOT = re.compile(r"(?:^|/)snapshots/([0-9a-f]{40})(?:/|$)")


def model_location(spec: ModelSpec) -> str:
    """Where the base loads from: the committed tiny world (hash-checked), a cached or newly built
    one for another recipe, ``path``, or the hub id."""
    if spec.name == TINY_MODEL:
        from peft_rlvr_bench.world.build import ensure_world

        assert spec.world is not None  # filled in by ModelSpec's validator
        return str(ensure_world(spec.world))
    return spec.path or spec.name


def world_identity(spec: ModelSpec) -> dict[str, Any]:
    """What names the exact base weights a result was made with, without loading them.

    The tiny world: its committed artifact's name (None for a cache-built recipe), the recipe key
    and the world hash (None while a cache-built world does not exist yet). A Hugging Face model:
    its id, ``path``, and the commit of the hub snapshot it loads from when that is knowable
    offline (a ``.../snapshots/<commit>`` path, or the snapshot the local hub cache resolves to).
    """
    if spec.name == TINY_MODEL:
        from peft_rlvr_bench.world.artifact import committed_world_for, verify_world, world_hash
        from peft_rlvr_bench.world.build import world_dir

        assert spec.world is not None
        committed = committed_world_for(spec.world)
        if committed is not None:
            digest: str | None = verify_world(committed.directory)
        else:
            directory = world_dir(spec.world)
            digest = world_hash(directory) if (directory / "model.safetensors").exists() else None
        return {
            "model": TINY_MODEL,
            "artifact": committed.name if committed is not None else None,
            "recipe_key": spec.world.key(),
            "hash": digest,
        }
    return {"model": spec.name, "path": spec.path, "revision": _snapshot_commit(spec)}


def _snapshot_commit(spec: ModelSpec) -> str | None:
    if spec.path is not None:
        found = _SNAPSHOT.search(Path(spec.path).resolve().as_posix())
        return found.group(1) if found else None
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(spec.name, "config.json")
    except Exception:  # an id the hub client rejects: nothing is known about its revision
        return None
    found = _SNAPSHOT.search(Path(cached).as_posix()) if isinstance(cached, str) else None
    return found.group(1) if found else None


TINY_WORLD_PREFIX = "prb-world-"
"""A saved run names a tiny-world base ``prb-world-<artifact>`` (``prb-world-tiny-v2``), or
``prb-world-<recipe key>`` for a world built in the cache."""


def base_name(spec: ModelSpec) -> str:
    """The name a saved run gives its base: the hub id, or the tiny world's portable name."""
    if spec.name != TINY_MODEL:
        return spec.name
    from peft_rlvr_bench.world.artifact import committed_world_for

    assert spec.world is not None  # filled in by ModelSpec's validator
    committed = committed_world_for(spec.world)
    return TINY_WORLD_PREFIX + (committed.name if committed is not None else spec.world.key())


def base_location(name: str) -> str:
    """Where the base a saved run names (``base_name``) loads from here: a tiny world's committed
    or cached directory, else the name itself (a hub id or a path)."""
    if not name.startswith(TINY_WORLD_PREFIX):
        return name
    from peft_rlvr_bench.paths import cache_dir
    from peft_rlvr_bench.world.artifact import committed_worlds

    world = name.removeprefix(TINY_WORLD_PREFIX)
    for committed in committed_worlds():
        if committed.name == world:
            return str(committed.directory)
    cached = cache_dir() / "world" / world  # world.build.cache_world_dir keys it by the recipe
    if (cached / "config.json").is_file():
        return str(cached)
    raise UserError(
        f"{name}: no committed tiny world {world!r} in this peft_rlvr_bench and none in the cache; "
        "install the version that made the run, or build its world with `prb world build`"
    )


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
