"""Synthetic Hugging Face-style checkpoints for the scaling benchmarks (no model code needed).

A layout is a Llama-shaped state dict (embedding, ``layers`` blocks of attention and MLP
matrices with their norms, final norm, LM head) sized to a parameter count. A trajectory is a
base plus checkpoints whose block-matrix deltas grow like ``t * (rank-1 direction) + noise``,
so RELEX, AlphaRL and linear extrapolation all have something real to fit. Every file is a
plain ``model.safetensors`` in its own directory, as ``prb extrapolate`` and ``prb analyze`` read.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file


@dataclass(frozen=True)
class Layout:
    """``hidden`` x ``intermediate`` blocks, ``layers`` of them, and a ``vocab`` x ``hidden`` embedding
    and LM head (untied, as most checkpoints store them)."""

    hidden: int
    intermediate: int
    layers: int
    vocab: int
    kv: int | None = None
    """Rows of the key and value projections (grouped-query attention); ``hidden`` when None."""
    tied: bool = False
    """No separate LM head (the embedding is reused, as in Qwen2.5-1.5B)."""

    def shapes(self) -> dict[str, tuple[int, ...]]:
        h, i = self.hidden, self.intermediate
        out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (self.vocab, h)}
        for layer in range(self.layers):
            prefix = f"model.layers.{layer}."
            out |= {
                prefix + "input_layernorm.weight": (h,),
                prefix + "self_attn.q_proj.weight": (h, h),
                prefix + "self_attn.k_proj.weight": (self.kv or h, h),
                prefix + "self_attn.v_proj.weight": (self.kv or h, h),
                prefix + "self_attn.o_proj.weight": (h, h),
                prefix + "post_attention_layernorm.weight": (h,),
                prefix + "mlp.gate_proj.weight": (i, h),
                prefix + "mlp.up_proj.weight": (i, h),
                prefix + "mlp.down_proj.weight": (h, i),
            }
        out |= {"model.norm.weight": (h,)}
        if not self.tied:
            out["lm_head.weight"] = (self.vocab, h)
        return out

    @property
    def numel(self) -> int:
        return sum(_numel(shape) for shape in self.shapes().values())

    @property
    def largest_tensor(self) -> int:
        return max(_numel(shape) for shape in self.shapes().values())


LAYOUTS = {
    # about 1M, 10M and 100M parameters; the 100M one has 1024 x 2816 MLP matrices (a 1B model's
    # shapes at a quarter of its width) and a 12288-row embedding.
    "1M": Layout(hidden=128, intermediate=352, layers=4, vocab=1024),
    "10M": Layout(hidden=384, intermediate=1056, layers=4, vocab=4096),
    "100M": Layout(hidden=1024, intermediate=2816, layers=6, vocab=12288),
}
"""By name; the figures in RESULTS.md use these names."""


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for size in shape:
        n *= size
    return n


def base_state(layout: Layout, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in layout.shapes().items():
        if len(shape) == 1:
            state[name] = torch.ones(shape) + 0.01 * torch.randn(shape, generator=generator)
        else:
            state[name] = torch.randn(shape, generator=generator) / shape[1] ** 0.5
    return state


def write_checkpoint(state: dict[str, torch.Tensor], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    return directory


def write_trajectory(
    layout: Layout, root: Path, steps: list[int], seed: int = 0
) -> tuple[Path, dict[int, Path]]:
    """``root/base`` and ``root/step-<t>`` for each step: per tensor (1-D ones too),
    ``W_t = W0 + t/1000 * (D + N_t)`` with one fixed rank-1 direction ``D`` and a noise ``N_t``
    of 0.3 times the base's scale (one Gaussian draw per tensor, rolled by a different offset at
    each step: cheap, and not a low-rank trajectory)."""
    base = base_state(layout, seed)
    write_checkpoint(base, root / "base")
    generator = torch.Generator().manual_seed(seed + 1)
    directions, noises = {}, {}
    for name, tensor in base.items():
        if tensor.ndim == 2:
            u = torch.randn(tensor.shape[0], 1, generator=generator)
            v = torch.randn(1, tensor.shape[1], generator=generator)
            directions[name] = (u @ v) / tensor.shape[1] ** 0.5
        else:
            directions[name] = torch.randn(tensor.shape, generator=generator)
        noises[name] = 0.3 * float(tensor.std()) * torch.randn(tensor.shape, generator=generator)
    checkpoints = {}
    for index, step in enumerate(steps):
        scale = step / 1000.0
        state = {
            name: tensor
            + scale
            * (directions[name] + noises[name].reshape(-1).roll(7919 * (index + 1)).view(tensor.shape))
            for name, tensor in base.items()
        }
        checkpoints[step] = write_checkpoint(state, root / f"step-{step}")
        del state
    return root / "base", checkpoints


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free
