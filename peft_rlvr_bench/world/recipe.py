"""The tiny world's recipe: every setting that determines its bytes, hashed into a short key."""

from __future__ import annotations

import hashlib
import json

from pydantic import ConfigDict, Field, field_validator

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
        default_factory=lambda: {
            "add": 6000,
            "add_any": 6000,
            "add_any_words": 3000,
            "copy": 2000,
            "max": 2000,
            "sub": 4000,
        },
        description="SFT examples per task family.",
    )
    carry_slips: tuple[float, ...] = Field(
        (0.55, 0.65, 0.75),
        description="per carry column (units first; the last value serves every further column), "
        "the share of SFT targets of the slip tasks that drop that column's carry",
    )
    slip_tasks: tuple[str, ...] = ("add", "add_any", "add_any_words")
    sft_steps: int = 2400
    sft_batch_size: int = 64
    sft_learning_rate: float = 3e-3

    @field_validator("carry_slips")
    @classmethod
    def _slips_are_shares(cls, slips: tuple[float, ...]) -> tuple[float, ...]:
        if not slips or any(not 0.0 <= slip <= 1.0 for slip in slips):
            raise ValueError("give one share in [0, 1] per carry column, e.g. [0.55, 0.65, 0.75]")
        return slips

    def key(self) -> str:
        payload = json.dumps(self.model_dump(), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:12]


RECIPE_NAME = "world_recipe.json"
"""The file in every world directory that holds the recipe it was built from."""


def recipe_json(recipe: WorldRecipe) -> str:
    """The recipe as written into a world directory (``RECIPE_NAME``)."""
    return json.dumps(recipe.model_dump(), indent=2, sort_keys=True)
