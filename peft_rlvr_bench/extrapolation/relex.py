"""RELEX: rank-r extrapolation in *trajectory* space (arXiv 2605.21468; ``docs/methods.md``, RELEX).

Per tensor, the observed deltas ``W_t - W0`` (flattened, not centred) are the rows of
``M [T, d]``. The top eigenvectors ``u_k`` of the Gram matrix ``G = M M^T`` (T x T) give unit
directions ``v_k = M^T u_k / sigma_k`` in parameter space and coefficients ``c_k(t) = M[t] . v_k``;
each ``c_k`` gets a least-squares polynomial fit in t, and the prediction is
``W0 + sum_k c_k(t*) reshape(v_k)``. Every tensor is treated this way, 1-D ones included. Rank 1
here means one direction over *time*: ``v_1`` reshaped is generally a full-rank matrix, unlike
AlphaRL's rank-1 *matrix* update.

Everything the method needs from ``M`` is in ``G``: ``c_k = G u_k / sigma_k`` and ``sum_k c_k(t*)
v_k = M^T alpha`` with the T-vector ``alpha = sum_k c_k(t*) u_k / sigma_k``. So a tensor is read in
two streamed passes (accumulate ``G``, then ``W0 + sum_t alpha_t (W_t - W0)``), chunk by chunk in
float64, and never needs a float64 copy of its whole trajectory, which for a large embedding
would be hundreds of GB. The prediction is a linear combination of the observed checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from peft_rlvr_bench.extrapolation import (
    ExtrapolatorParams,
    check_steps,
    check_trajectory,
    observed_window,
    polyfit_at,
)
from peft_rlvr_bench.registry import register_extrapolator

if TYPE_CHECKING:
    from torch import Tensor

CHUNK_ELEMENTS = 1 << 24
"""float64 elements held per chunk across all trajectory rows (128 MiB)."""


class RELEXParams(ExtrapolatorParams):
    rank: int = Field(1, ge=1, description="number of trajectory directions (the paper: 1)")
    window: int | None = Field(
        None, ge=1, description="use only the last `window` recorded checkpoints after step 0; None: all"
    )
    degree: int = Field(1, ge=1, description="degree of the polynomial fit of each coefficient (1: linear)")
    include_base: bool = Field(
        False,
        description="add step 0 (zero delta) as a trajectory row and fit point; when False a recorded "
        "step-0 checkpoint is ignored, so the fit's intercept is free",
    )


@register_extrapolator("relex")
class RELEX:
    Params: ClassVar[type[ExtrapolatorParams]] = RELEXParams
    drives_training: ClassVar[bool] = False

    def validate(self, steps: Sequence[int], target: int, params: RELEXParams) -> None:
        self._row_steps(steps, target, params)

    def predict(
        self,
        name: str,
        base: Tensor,
        steps: Sequence[int],
        weights: Sequence[Tensor],
        target: int,
        params: RELEXParams,
    ) -> Tensor:
        import torch

        row_steps, kept = self._row_steps(steps, target, params)
        check_trajectory(name, base, steps, weights)
        rows = [weights[i] for i in kept]
        gram = trajectory_gram(base, rows)
        if params.include_base:
            # The base row is all zeros: it adds nothing to G but pins c(0) = 0 in the fit.
            gram = torch.nn.functional.pad(gram, (1, 0, 1, 0))
        alpha = relex_combination(gram, row_steps, target, params.rank, params.degree)
        return combine(base, rows, alpha[1:] if params.include_base else alpha)

    @staticmethod
    def _row_steps(steps: Sequence[int], target: int, params: RELEXParams) -> tuple[list[int], list[int]]:
        """(the step of each trajectory row, the indices of the recorded checkpoints used as rows)."""
        checked = check_steps(steps, target, method="relex", min_points=1)
        kept = observed_window(checked, params.window)
        row_steps = ([0] if params.include_base else []) + [checked[i] for i in kept]
        where = (
            f"{len(kept)} recorded checkpoint(s) after step 0"
            + (f" in window={params.window}" if params.window is not None else "")
            + (" plus the base row" if params.include_base else "")
        )
        if len(row_steps) < params.degree + 1:
            raise ValueError(
                f"relex: a degree-{params.degree} fit needs at least {params.degree + 1} trajectory rows, "
                f"got {len(row_steps)} ({where})"
            )
        if params.rank > len(row_steps):
            raise ValueError(
                f"relex: rank={params.rank} exceeds the {len(row_steps)} trajectory rows ({where}); "
                "lower the rank or record more checkpoints"
            )
        return row_steps, kept


def trajectory_gram(base: Tensor, rows: Sequence[Tensor], chunk_elements: int | None = None) -> Tensor:
    """``G = M M^T`` in float64, where row t of ``M`` is ``rows[t] - base`` flattened; streamed in
    column chunks so no float64 copy of the whole trajectory exists."""
    import torch

    gram = torch.zeros(len(rows), len(rows), dtype=torch.float64, device=base.device)
    for deltas in _delta_chunks(base, rows, chunk_elements):
        gram += deltas @ deltas.T
    return gram


def relex_combination(gram: Tensor, steps: Sequence[int], target: int, rank: int, degree: int) -> Tensor:
    """``alpha`` such that the RELEX prediction is ``W0 + sum_t alpha_t M[t]``, from ``G`` alone.

    Directions whose ``sigma_k^2`` is at rounding level (``<= T * eps * sigma_1^2``, the accuracy
    of the eigenvalues of G) are skipped: their ``u_k`` is noise and they carry no signal; for an
    all-zero trajectory this skips everything and the prediction is ``W0``. The result does not
    depend on the sign eigh picks for ``u_k``: ``c_k`` and ``u_k / sigma_k`` flip together.
    """
    import torch

    eigenvalues, eigenvectors = torch.linalg.eigh(gram)  # ascending
    n = gram.shape[0]
    tolerance = n * torch.finfo(torch.float64).eps * eigenvalues[-1].clamp_min(0)
    alpha = torch.zeros(n, dtype=torch.float64, device=gram.device)
    for k in range(1, rank + 1):
        u = eigenvectors[:, -k]
        # sigma_k^2 = ||M^T u_k||^2, taken from G rather than the eigenvalue so c_k is an exact
        # projection of the rows onto the direction actually used.
        sigma_squared = u @ gram @ u
        if sigma_squared <= tolerance:
            continue
        sigma = sigma_squared.sqrt()
        coefficients = gram @ u / sigma  # c_k(t) = M[t] . v_k
        alpha += polyfit_at(steps, coefficients, degree, target) / sigma * u
    return alpha


def combine(base: Tensor, rows: Sequence[Tensor], alpha: Tensor, chunk_elements: int | None = None) -> Tensor:
    """``W0 + sum_t alpha_t (rows[t] - W0)`` in float64, streamed in chunks, in the base's dtype."""
    import torch

    out = torch.empty(base.numel(), dtype=base.dtype, device=base.device)
    flat_base = base.detach().reshape(-1)
    start = 0
    for deltas in _delta_chunks(base, rows, chunk_elements):
        stop = start + deltas.shape[1]
        out[start:stop] = (flat_base[start:stop].to(torch.float64) + alpha @ deltas).to(base.dtype)
        start = stop
    return out.reshape(base.shape)


def _delta_chunks(base: Tensor, rows: Sequence[Tensor], chunk_elements: int | None) -> Iterator[Tensor]:
    """``[len(rows), chunk]`` float64 slices of ``M``, left to right over the flattened tensor."""
    import torch

    per_row = max(1, (chunk_elements or CHUNK_ELEMENTS) // max(1, len(rows)))
    flat_base = base.detach().reshape(-1)
    flat_rows = [row.detach().reshape(-1) for row in rows]
    for start in range(0, flat_base.numel(), per_row):
        piece = slice(start, start + per_row)
        b = flat_base[piece].to(torch.float64)
        # Filled row by row and centred in place: one chunk alive, not three (the converted rows,
        # their stack and the difference; benchmarks/RESULTS.md).
        chunk = torch.empty(len(flat_rows), b.numel(), dtype=torch.float64, device=b.device)
        for i, r in enumerate(flat_rows):
            chunk[i] = r[piece]
        yield chunk.sub_(b)
