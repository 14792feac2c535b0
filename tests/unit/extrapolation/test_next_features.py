"""NExt's features: a delta cut into its top singular triple, a vector kept whole."""

from __future__ import annotations

import torch

from peft_rlvr_bench.extrapolation.next_features import (
    factor_vector,
    outer_of,
    separate_pieces,
    top_triple,
)

# --- pieces -----------------------------------------------------------------------------------


def test_pieces_are_u_sigma_v_by_length_and_a_vector_is_a_column() -> None:
    generator = torch.Generator().manual_seed(1)
    delta = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    pieces = separate_pieces(delta)
    assert set(pieces) == {("column", 4, 1), ("scalar", 1, 1), ("row", 1, 3)}
    U, S, Vh = torch.linalg.svd(delta, full_matrices=False)
    torch.testing.assert_close(pieces[("scalar", 1, 1)], S[:1])
    torch.testing.assert_close(pieces[("column", 4, 1)], U[:, 0])
    torch.testing.assert_close(pieces[("row", 1, 3)], Vh[0])
    vector = torch.randn(4, generator=generator, dtype=torch.float64)
    assert separate_pieces(vector) == {("column", 4, 1): vector}


def test_a_zero_delta_decomposes_as_lapack_does() -> None:
    U, S, Vh = torch.linalg.svd(torch.zeros(5, 3, dtype=torch.float64), full_matrices=False)
    sigma, u, v = top_triple(torch.zeros(5, 3, dtype=torch.float64))
    torch.testing.assert_close((sigma, u, v), (S[0], U[:, 0], Vh[0]))


def test_joint_factor_vectors_rebuild_a_rank1_matrix_and_align_signs() -> None:
    generator = torch.Generator().manual_seed(1)
    u, v = (
        torch.randn(7, generator=generator, dtype=torch.float64),
        torch.randn(4, generator=generator, dtype=torch.float64),
    )
    delta = 0.3 * torch.outer(u, v)
    vector = factor_vector(delta, v_ref=v)
    torch.testing.assert_close(outer_of(vector, 7), delta)
    assert float(vector[7:] @ v) > 0
    assert float(factor_vector(delta, v_ref=-v)[7:] @ v) < 0
