"""The tiny world's recipe: every setting that determines its bytes, hashed into a short key."""

from __future__ import annotations

import hashlib
import json

from pydantic import ConfigDict, Field

from peft_rlvr_bench.schema import InputModel


class WorldRecipe(InputModel):
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


RECIPE_NAME = "world_recipe.json"
"""The file in every world directory that holds the recipe it was built from."""


def recipe_json(recipe: WorldRecipe) -> str:
    """The recipe as written into a world directory (``RECIPE_NAME``)."""
    return json.dumps(recipe.model_dump(), indent=2, sort_keys=True)
