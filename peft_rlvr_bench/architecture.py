"""The shape of a Llama-style decoder, known without loading it: for suite checks and memory estimates.

One ``Architecture`` says what every count depends on: the (out, in) shape of each block linear,
the normalisation weights, the embedding. It comes from the tiny world (its built ``config.json``,
else its recipe), a local ``model.path``'s ``config.json``, a built-in table of the models the
shipped suites name (``KNOWN``), or the Hugging Face cache, in that order, and never downloads.
The parameter formulas are those of Llama, Qwen2 (q/k/v biases), Qwen3 (q/k norms) and Mistral;
a test checks them against transformers' own counts. Each adapter computes its trainable count
from an ``Architecture`` (``Adapter.footprint``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from peft_rlvr_bench.errors import UserError

if TYPE_CHECKING:
    from torch import Tensor

    from peft_rlvr_bench.world.recipe import WorldRecipe

BLOCK_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The linear layers of one block: every adapter's default targets (never peft's per-model ones)."""

LLAMA_STYLE = frozenset({"llama", "qwen2", "qwen3", "mistral"})
"""Model types whose parameter count the formulas here give."""


def is_block_matrix(name: str, tensor: Tensor) -> bool:
    """A 2-D weight of the transformer blocks (attention/MLP): not an embedding or LM head.

    Judged by name ("embed" or "lm_head", case-insensitive), which covers the Llama/Qwen naming
    the harness loads; GPT-2's ``wte``/``wpe`` would need adding here.
    """
    lowered = name.lower()
    return tensor.ndim == 2 and "embed" not in lowered and "lm_head" not in lowered


def module_suffix(name: str) -> str:
    """``model.layers.0.self_attn.q_proj`` -> ``q_proj``: how peft matches a target name."""
    return name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Architecture:
    """What the parameter count of a Llama-style decoder depends on."""

    model_type: str
    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    vocab_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int | None = None
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    """Qwen2: biases on q, k and v."""
    qk_norm: bool = False
    """Qwen3: RMSNorm on queries and keys (head_dim weights each)."""
    max_position_embeddings: int | None = None

    @property
    def head_size(self) -> int:
        return self.head_dim or self.hidden_size // self.num_attention_heads

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(out, in) of each linear layer of one block."""
        h, q, kv, i = (
            self.hidden_size,
            self.num_attention_heads * self.head_size,
            self.num_key_value_heads * self.head_size,
            self.intermediate_size,
        )
        return {
            "q_proj": (q, h),
            "k_proj": (kv, h),
            "v_proj": (kv, h),
            "o_proj": (h, q),
            "gate_proj": (i, h),
            "up_proj": (i, h),
            "down_proj": (h, i),
        }

    def target_shapes(self, targets: Sequence[str] | None) -> list[tuple[str, int, int]]:
        """(suffix, out, in) of every adapted linear of the model, each block's in turn, for
        ``target_modules`` (None: every block linear, the harness's default)."""
        shapes = self.linear_shapes()
        chosen = [module_suffix(name) for name in (targets or BLOCK_LINEARS)]
        block = [(name, *shapes[name]) for name in chosen if name in shapes]
        return block * self.num_hidden_layers

    def norm_shapes(self) -> dict[str, tuple[int, int]]:
        """Normalisation layers by suffix: (how many in the model, weights each)."""
        norms = {
            "input_layernorm": (self.num_hidden_layers, self.hidden_size),
            "post_attention_layernorm": (self.num_hidden_layers, self.hidden_size),
            "norm": (1, self.hidden_size),
        }
        if self.qk_norm:
            norms |= {name: (self.num_hidden_layers, self.head_size) for name in ("q_norm", "k_norm")}
        return norms

    def norm_parameters(self, targets: Sequence[str] | None = None) -> int:
        """Weights of the norm layers named by ``targets`` (None: every one)."""
        chosen = {module_suffix(name) for name in targets} if targets else None
        return sum(
            n * size for name, (n, size) in self.norm_shapes().items() if chosen is None or name in chosen
        )

    def parameters(self) -> int:
        """All parameters, counted once (a tied LM head shares the embedding)."""
        if self.model_type not in LLAMA_STYLE:
            raise UserError(
                f"model_type {self.model_type!r} has no parameter formula here (known: "
                f"{', '.join(sorted(LLAMA_STYLE))}); the memory estimate is skipped for it"
            )
        shapes = self.linear_shapes()
        linears = sum(out * inp for out, inp in shapes.values())
        biases = (shapes["q_proj"][0] + 2 * shapes["k_proj"][0]) if self.attention_bias else 0
        embedding = self.vocab_size * self.hidden_size
        head = 0 if self.tie_word_embeddings else embedding
        return self.num_hidden_layers * (linears + biases) + self.norm_parameters() + embedding + head


def _qwen2(
    hidden: int, layers: int, mlp: int, vocab: int, heads: int, kv: int, tied: bool, ctx: int
) -> Architecture:
    return Architecture("qwen2", hidden, layers, mlp, vocab, heads, kv, None, tied, True, False, ctx)


def _qwen3(hidden: int, layers: int, mlp: int, heads: int, kv: int, tied: bool) -> Architecture:
    return Architecture("qwen3", hidden, layers, mlp, 151936, heads, kv, 128, tied, False, True, 32768)


KNOWN: dict[str, Architecture] = {
    "Qwen/Qwen2.5-Math-1.5B": _qwen2(1536, 28, 8960, 151936, 12, 2, True, 4096),
    "Qwen/Qwen2.5-Math-7B": _qwen2(3584, 28, 18944, 152064, 28, 4, False, 4096),
    "Qwen/Qwen2.5-1.5B": _qwen2(1536, 28, 8960, 151936, 12, 2, True, 131072),
    "Qwen/Qwen2.5-7B": _qwen2(3584, 28, 18944, 152064, 28, 4, False, 131072),
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B": _qwen2(1536, 28, 8960, 151936, 12, 2, False, 131072),
    "Qwen/Qwen3-1.7B-Base": _qwen3(2048, 28, 6144, 16, 8, True),
    "Qwen/Qwen3-4B-Base": _qwen3(2560, 36, 9728, 32, 8, True),
    "Qwen/Qwen3-8B-Base": _qwen3(4096, 36, 12288, 32, 8, False),
    "meta-llama/Llama-3.2-1B": Architecture(
        "llama", 2048, 16, 8192, 128256, 32, 8, 64, True, False, False, 131072
    ),
    "meta-llama/Llama-3.1-8B": Architecture(
        "llama", 4096, 32, 14336, 128256, 32, 8, 128, False, False, False, 131072
    ),
}
"""Architectures of the models the shipped suites (and their obvious neighbours) name, from their
published ``config.json`` files."""


def architecture_from_config(config: Mapping[str, Any], where: str, strict: bool = True) -> Architecture:
    """An ``Architecture`` from a Hugging Face ``config.json`` mapping. ``strict`` refuses model
    types outside ``LLAMA_STYLE`` (whose parameter count has no formula here); a lenient read
    still gives the block linears' shapes, which is all a rank check needs."""
    model_type = str(config.get("model_type", "?"))
    if strict and model_type not in LLAMA_STYLE:
        raise UserError(
            f"{where}: model_type {model_type!r} has no parameter formula here (known: "
            f"{', '.join(sorted(LLAMA_STYLE))}); the memory estimate is skipped for it"
        )
    try:
        heads = int(config["num_attention_heads"])
        return Architecture(
            model_type=model_type,
            hidden_size=int(config["hidden_size"]),
            num_hidden_layers=int(config["num_hidden_layers"]),
            intermediate_size=int(config["intermediate_size"]),
            vocab_size=int(config["vocab_size"]),
            num_attention_heads=heads,
            num_key_value_heads=int(config.get("num_key_value_heads") or heads),
            head_dim=config.get("head_dim"),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            attention_bias=model_type == "qwen2" or bool(config.get("attention_bias", False)),
            qk_norm=model_type == "qwen3",
            max_position_embeddings=config.get("max_position_embeddings"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{where}: config.json lacks a usable {exc.args[0]!r}; cannot count parameters"
        ) from None


def resolve_architecture(name: str, path: str | None, strict: bool = True) -> tuple[Architecture, str]:
    """A hub model's architecture and where it came from, without any download: a local
    ``config.json`` (``model.path``) first, then the built-in table, then the Hugging Face cache."""
    if path is not None:
        config = Path(path).expanduser() / "config.json"
        if config.is_file():
            return architecture_from_config(_read_json(config), str(config), strict), str(config)
    if name in KNOWN:
        return KNOWN[name], "built-in table"
    cached = _cached_config(name)
    if cached is not None:
        return architecture_from_config(_read_json(cached), str(cached), strict), str(cached)
    where = f"model.path {path}" if path else f"model {name!r}"
    raise UserError(
        f"{where}: no local config.json and not in the built-in table ({', '.join(sorted(KNOWN))}); "
        "set model.path to a directory holding its config.json for the memory estimate"
    )


def world_architecture(recipe: WorldRecipe) -> tuple[Architecture, str]:
    """The tiny world's architecture: its built ``config.json`` (the tokenizer decides the real
    vocabulary, often smaller than the recipe's cap), else the recipe itself."""
    from peft_rlvr_bench.world.build import world_dir

    config = world_dir(recipe) / "config.json"
    if config.is_file():
        return architecture_from_config(_read_json(config), str(config)), "tiny world config.json"
    arch = Architecture(
        "llama",
        recipe.hidden_size,
        recipe.num_hidden_layers,
        recipe.intermediate_size,
        recipe.vocab_size,
        recipe.num_attention_heads,
        recipe.num_attention_heads,
        tie_word_embeddings=True,
        max_position_embeddings=recipe.max_position_embeddings,
    )
    return arch, "tiny world recipe (vocabulary at most)"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read it as JSON ({exc}); restore the model's config.json") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a JSON object; restore the model's config.json")
    return data


def _cached_config(repo_id: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # not a repo id, no cache: the lookup is a courtesy, loading reports the rest
        return None
    return Path(found) if isinstance(found, str) else None
