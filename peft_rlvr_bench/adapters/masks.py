"""Boolean masks for sparse subnetwork fine-tuning (``docs/methods.md``, "Sparse subnetwork masks").

Pure functions on tensors: each returns a ``bool`` tensor of the weight's shape, ``True`` where
the coordinate trains. Counts are exact (``round(fraction * numel)``) and ties are broken
deterministically: scores are ranked in float64 by a stable sort, so among equal scores the
lower flat (row-major) index wins. Two runs on the same weights therefore train the same
coordinates, on any device.
"""

from __future__ import annotations

import torch

# Integer views of the same width, so that ``changed_mask`` compares storage bits, not values.
_SAME_WIDTH_INT = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")


def _exact_count(fraction: float, numel: int) -> int:
    return round(fraction * numel)


def _extreme_fraction_mask(scores: torch.Tensor, fraction: float, largest: bool) -> torch.Tensor:
    """Marks exactly ``round(fraction * numel)`` coordinates with the largest (or smallest) scores.

    float64 keeps distinct bf16/fp32 scores distinct; ``stable=True`` makes ties go to the lower
    flat index, where ``topk`` would leave the choice to the backend.
    """
    flat = scores.detach().reshape(-1).to(torch.float64)
    count = _exact_count(fraction, flat.numel())
    order = torch.argsort(flat, descending=largest, stable=True)
    mask = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    mask[order[:count]] = True
    return mask.reshape(scores.shape)


def rank_k_reconstruction(W: torch.Tensor, k: int) -> torch.Tensor:
    """Best rank-``k`` approximation of a 2-D ``W`` (truncated SVD in float64), ``k`` capped at min(shape)."""
    if W.ndim != 2:
        raise ValueError(f"expected a 2-D weight, got shape {tuple(W.shape)}")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}")
    k = min(k, min(W.shape))
    U, S, Vh = torch.linalg.svd(W.detach().to(torch.float64), full_matrices=False)
    return (U[:, :k] * S[:k]) @ Vh[:k]


def principal_mask(W: torch.Tensor, k: int = 16, alpha: float = 0.5) -> torch.Tensor:
    """``M_princ``: the top-``alpha`` fraction of ``|rank-k reconstruction of W|``.

    These are the coordinates the dominant singular directions load on; training only them is
    the negative control of the "safe" mask.
    """
    _check_fraction("alpha", alpha)
    return _extreme_fraction_mask(rank_k_reconstruction(W, k).abs(), alpha, largest=True)


def low_magnitude_mask(W: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """``M_low``: the bottom-``alpha`` fraction of ``|W|``."""
    _check_fraction("alpha", alpha)
    return _extreme_fraction_mask(W.abs(), alpha, largest=False)


def off_principal_mask(W: torch.Tensor, k: int = 16, alpha: float = 0.5) -> torch.Tensor:
    """The "safe" mask: ``M_low OR NOT M_princ``, from ``W0`` alone.

    Keeps the principal, large-magnitude coordinates frozen (about 70% of coordinates train in
    arXiv 2511.08567 at alpha 0.5).
    """
    return low_magnitude_mask(W, alpha) | ~principal_mask(W, k, alpha)


def random_mask(
    shape: torch.Size | tuple[int, ...],
    density: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A uniformly random mask with exactly ``round(density * numel)`` True coordinates.

    Reproducible given a ``generator`` seeded by the caller; built on the generator's device
    (CPU for a default ``torch.Generator()``), so move it to the weight's device afterwards.
    """
    _check_fraction("density", density)
    shape = torch.Size(shape)
    numel = shape.numel()
    device = generator.device if generator is not None else torch.device("cpu")
    chosen = torch.randperm(numel, generator=generator, device=device)[: _exact_count(density, numel)]
    mask = torch.zeros(numel, dtype=torch.bool, device=device)
    mask[chosen] = True
    return mask.reshape(shape)


def changed_mask(W0: torch.Tensor, W1: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Coordinates whose value stored as ``dtype`` differs bitwise from ``W0`` to ``W1``.

    The geometry's update sparsity and the sparse adapter's ``rl_delta`` mask both come from here
    (through ``geometry.unchanged_mask``), at bf16 by default: an fp32 drift that rounds away in
    bf16 does not count. Bits, not values, are compared: -0.0 vs 0.0 is a change, and a NaN
    equals itself only with the same payload.
    """
    if W0.shape != W1.shape:
        raise ValueError(f"shape mismatch: {tuple(W0.shape)} vs {tuple(W1.shape)}")
    as_int = _SAME_WIDTH_INT.get(torch.empty((), dtype=dtype).element_size())
    if as_int is None:
        raise ValueError(f"no integer view for dtype {dtype}")
    before = W0.detach().to(dtype).contiguous().view(as_int)
    after = W1.detach().to(device=W0.device, dtype=dtype).contiguous().view(as_int)
    return before != after
