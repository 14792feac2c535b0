"""AlphaRL: rank-1 extrapolation in *matrix* space (arXiv 2510.00553; ``docs/methods.md``).

Per attention/MLP matrix and per recorded checkpoint, take the top singular triple
``(sigma_t, u_t, v_t)`` of ``dW_t = W_t - W0``; sign-align it, set ``a_t = sigma_t u_t``, fit
``a_t`` linearly in t by least squares (per coordinate), and predict
``W(t*) = W0 + a(t*) v_ref^T``: a rank-1 matrix update. With ``rescale_norm`` the rank-1 delta is
scaled to the linearly extrapolated ``||dW_t||_F``. Embeddings, the LM head, norms and biases
(every tensor that is not a block matrix) stay at ``W0``.

Sign alignment: an SVD returns ``(u, v)`` or ``(-u, -v)`` at will, and a coefficient that changes
sign over time flips them too. Every checkpoint is flipped so that ``v_t . v_ref >= 0``, where
``v_ref`` is the right singular vector of the latest checkpoint in the window (the latest with a
nonzero delta): it is the direction the prediction uses, and the one closest to the target, so
the fitted ``a_t`` are coordinates along the direction that is extrapolated.

The paper's public build script is broken (``docs/methods.md``, AlphaRL), so this follows the
definition, not that code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from peft_rlvr_bench.architecture import is_block_matrix
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

EXACT_SVD_MAX_NUMEL = 1 << 20
"""Matrices up to this many entries get an exact float64 SVD; larger ones a randomized one."""


class AlphaRLParams(ExtrapolatorParams):
    window: int | None = Field(
        None, ge=2, description="use only the last `window` recorded checkpoints after step 0; None: all"
    )
    rescale_norm: bool = Field(
        False, description="scale the rank-1 delta to the linearly extrapolated ||dW_t||_F"
    )


@register_extrapolator("alpharl")
class AlphaRL:
    Params: ClassVar[type[ExtrapolatorParams]] = AlphaRLParams
    drives_training: ClassVar[bool] = False

    def validate(self, steps: Sequence[int], target: int, params: AlphaRLParams) -> None:
        self._kept(steps, target, params)

    def predict(
        self,
        name: str,
        base: Tensor,
        steps: Sequence[int],
        weights: Sequence[Tensor],
        target: int,
        params: AlphaRLParams,
    ) -> Tensor:
        import torch

        kept = self._kept(steps, target, params)
        check_trajectory(name, base, steps, weights)
        if not is_block_matrix(name, base):
            return base.detach().clone()
        w0 = base.detach().to(torch.float64)
        triples, norms = [], []
        for i in kept:  # one float64 delta alive at a time
            delta = weights[i].detach().to(device=base.device, dtype=torch.float64) - w0
            triples.append(top_singular_triple(delta))
            norms.append(torch.linalg.matrix_norm(delta))
        fitted = alpharl_delta(
            [steps[i] for i in kept], triples, target, norms=norms if params.rescale_norm else None
        )
        return (w0 + fitted).to(base.dtype)

    @staticmethod
    def _kept(steps: Sequence[int], target: int, params: AlphaRLParams) -> list[int]:
        checked = check_steps(steps, target, method="alpharl", min_points=1)
        kept = observed_window(checked, params.window)
        if len(kept) < 2:
            raise ValueError(
                f"alpharl needs at least 2 recorded checkpoints after step 0 to fit a_t linearly, got "
                f"{len(kept)} (steps={checked}, window={params.window})"
            )
        return kept


def alpharl_delta(
    steps: Sequence[int],
    triples: Sequence[tuple[Tensor, Tensor, Tensor]],
    target: int,
    norms: Sequence[Tensor] | None = None,
) -> Tensor:
    """The predicted ``dW(target) = a(target) v_ref^T`` from each checkpoint's ``(sigma, u, v)``.

    ``norms`` (``||dW_t||_F`` per checkpoint), when given, rescale the result to their linear
    extrapolation, clamped at 0 (a norm fitted below zero means the update has died out).
    """
    import torch

    sigmas = [float(sigma) for sigma, _, _ in triples]
    nonzero = [i for i, sigma in enumerate(sigmas) if sigma > 0]
    u_any, v_any = triples[0][1], triples[0][2]
    if not nonzero:
        return torch.zeros(u_any.numel(), v_any.numel(), dtype=torch.float64, device=u_any.device)
    v_ref = triples[nonzero[-1]][2].to(torch.float64)
    aligned = []
    for sigma, (_, u, v) in zip(sigmas, triples, strict=True):
        sign = 1.0 if float(v.to(torch.float64) @ v_ref) >= 0 else -1.0
        aligned.append(sign * sigma * u.to(torch.float64))
    a_target = polyfit_at(steps, torch.stack(aligned), 1, target)
    fitted = torch.outer(a_target, v_ref)
    if norms is not None:
        norm_target = float(polyfit_at(steps, torch.stack([torch.as_tensor(n) for n in norms]), 1, target))
        length = float(torch.linalg.vector_norm(a_target))  # ||a v^T||_F = ||a|| since ||v|| = 1
        fitted *= max(norm_target, 0.0) / length if length > 0 else 0.0
    return fitted


def top_singular_triple(
    matrix: Tensor, exact_max_numel: int | None = None, niter: int = 8, oversample: int = 8
) -> tuple[Tensor, Tensor, Tensor]:
    """``(sigma_1, u_1, v_1)`` of a float64 matrix: exact SVD up to ``exact_max_numel`` entries
    (default ``EXACT_SVD_MAX_NUMEL``), a randomized subspace iteration above.

    The randomized path seeds its own generator, so a prediction is a deterministic function of
    the checkpoints (``torch.svd_lowrank`` would draw from the global RNG). With ``niter`` power
    iterations on ``1 + oversample`` vectors, the top triple's error shrinks like
    ``(sigma_{q+1} / sigma_1)^(2 niter)``.
    """
    import torch

    limit = EXACT_SVD_MAX_NUMEL if exact_max_numel is None else exact_max_numel
    if matrix.numel() <= limit:
        U, S, Vh = torch.linalg.svd(matrix, full_matrices=False)
        return S[0], U[:, 0], Vh[0]
    q = min(1 + oversample, *matrix.shape)
    generator = torch.Generator(device=matrix.device).manual_seed(0)
    probe = torch.randn(matrix.shape[1], q, generator=generator, dtype=matrix.dtype, device=matrix.device)
    basis = torch.linalg.qr(matrix @ probe).Q
    for _ in range(niter):
        basis = torch.linalg.qr(matrix @ torch.linalg.qr(matrix.T @ basis).Q).Q
    U, S, Vh = torch.linalg.svd(basis.T @ matrix, full_matrices=False)
    return S[0], basis @ U[:, 0], Vh[0]
