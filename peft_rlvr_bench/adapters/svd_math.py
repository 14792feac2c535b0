"""SVD initialisations for the residual low-rank adapters (``docs/methods.md``, residual adapters).

Pure functions on tensors: no peft, no configs. Each takes a weight ``W`` (out x in, as
``nn.Linear`` stores it), computes in float64 on ``W``'s device and returns tensors in ``W``'s
dtype. An init returns ``(A, B, W_res)`` with ``A`` (r x in), ``B`` (out x r) and the frozen residual
``W_res = W - scale * B @ A``, so that the adapted layer ``W_res + scale * B @ A`` equals ``W`` up
to rounding into the returned dtype. Callers who store the residual in a lower precision than
the factors should pass ``W`` in float64 and cast each output themselves (one rounding, not two).

``scale`` is the LoRA scaling ``s`` (alpha / r); it is folded into the factors as PiSSA does,
``A = sqrt(S_r / s) V_r^T`` and ``B = U_r sqrt(S_r / s)``, so the adapter's product is exactly the
chosen rank-r SVD component of the (masked) weight whatever alpha is.
"""

from __future__ import annotations

import math

import torch


def principal_init(W: torch.Tensor, r: int, scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PiSSA: factors from the top ``r`` singular triplets of ``W`` (``docs/methods.md``).

    Reference implementation; the PiSSA adapter itself goes through peft's
    ``init_lora_weights="pissa"``, which computes the same thing in float32.
    """
    _check_rank(W, r)
    _check_scale(scale)
    W64 = W.detach().to(torch.float64)
    U, S, Vh = torch.linalg.svd(W64, full_matrices=False)
    return _split(W64, U[:, :r], S[:r], Vh[:r], scale, W.dtype)


def minor_init(W: torch.Tensor, r: int, scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MiLoRA: PiSSA's formula with the **last** ``r`` singular triplets (``docs/methods.md``).

    "Last" is taken from the thin SVD (min(out, in) triplets, singular values in descending
    order, which the returned factors keep). MiLoRA's default alpha is r (s = 1).
    """
    _check_rank(W, r)
    _check_scale(scale)
    W64 = W.detach().to(torch.float64)
    U, S, Vh = torch.linalg.svd(W64, full_matrices=False)
    k = S.numel()
    return _split(W64, U[:, k - r :], S[k - r :], Vh[k - r :], scale, W.dtype)


def geora_masks(W: torch.Tensor, r: int, rho: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GeoRA's two priors, per matrix (``docs/methods.md``, GeoRA, steps 1 and 2): ``(m_spec, m_euc)``.

    ``m_spec`` marks the coordinates whose ``|rank-r SVD reconstruction of W|`` is in the bottom
    ``rho`` fraction, ``m_euc`` those whose ``|W|`` is. Each mask is a bool tensor shaped like ``W``
    with exactly ``floor(rho * W.numel())`` True entries (a relative tolerance of 1e-12 keeps
    float noise from losing one, e.g. rho=0.29 on 100 coordinates selects 29); rho=1 selects all.
    Ties are broken deterministically by position: magnitudes are sorted in float64 with a stable
    ascending sort of the row-major flattened matrix, so among equal values the lower flat index
    is selected first. This is a k-smallest selection, not a ``<= threshold`` test, which could
    select more than the fraction when values tie at the threshold.
    """
    _check_rank(W, r)
    _check_rho(rho)
    W64 = W.detach().to(torch.float64)
    U, S, Vh = torch.linalg.svd(W64, full_matrices=False)
    W_hat = (U[:, :r] * S[:r]) @ Vh[:r]
    return _bottom_fraction(W_hat.abs(), rho), _bottom_fraction(W64.abs(), rho)


def geora_init(
    W: torch.Tensor, r: int, rho: float, scale: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GeoRA (``docs/methods.md``, GeoRA, steps 3 and 4): top-r SVD of ``W_geo = W * (m_spec | m_euc)``.

    ``A = sqrt(S_r / s) V_r^T`` and ``B = U_r sqrt(S_r / s)`` from ``svd(W_geo)``, with the residual
    taken from the **unmasked** weight, ``W_res = W - s B A``, so the model at init equals the base.
    The default alpha is r (s = 1). See :func:`geora_masks` for the masks and ties.
    If both masks are empty (``rho * numel < 1``), ``W_geo`` is zero and so are ``A`` and ``B``.
    """
    _check_scale(scale)
    m_spec, m_euc = geora_masks(W, r, rho)
    W64 = W.detach().to(torch.float64)
    W_geo = W64 * (m_spec | m_euc)
    U, S, Vh = torch.linalg.svd(W_geo, full_matrices=False)
    return _split(W64, U[:, :r], S[:r], Vh[:r], scale, W.dtype)


def _split(
    W64: torch.Tensor, U: torch.Tensor, S: torch.Tensor, Vh: torch.Tensor, scale: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    root = torch.sqrt(S / scale)
    A = root[:, None] * Vh
    B = U * root[None, :]
    W_res = W64 - scale * (B @ A)
    return A.to(dtype).contiguous(), B.to(dtype).contiguous(), W_res.to(dtype).contiguous()


def _bottom_fraction(values: torch.Tensor, rho: float) -> torch.Tensor:
    n = values.numel()
    k = min(n, math.floor(rho * n * (1 + 1e-12)))
    order = torch.argsort(values.flatten(), stable=True)
    mask = torch.zeros(n, dtype=torch.bool, device=values.device)
    mask[order[:k]] = True
    return mask.view(values.shape)


def _check_rank(W: torch.Tensor, r: int) -> None:
    if W.ndim != 2:
        raise ValueError(f"expected a 2-D weight (out x in), got shape {tuple(W.shape)}")
    if not 0 < r <= min(W.shape):
        raise ValueError(
            f"rank r={r} must be between 1 and min(out, in)={min(W.shape)} for a weight of shape "
            f"{tuple(W.shape)}; lower r or leave this module out of target_modules"
        )


def _check_rho(rho: float) -> None:
    if not 0 < rho <= 1:
        raise ValueError(f"mask fraction rho={rho} must be in (0, 1]")


def _check_scale(scale: float) -> None:
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"LoRA scaling {scale} must be a positive finite number")
