"""The sparse masks on weights whose answer is known: principal, low magnitude, random, changed."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM

from peft_rlvr_bench.adapters import ApplyContext
from peft_rlvr_bench.adapters.masks import (
    changed_mask,
    low_magnitude_mask,
    off_principal_mask,
    principal_mask,
    random_mask,
)
from peft_rlvr_bench.adapters.sparse import SparseFineTuning, SparseParams
from tests.helpers.tiny_models import tiny_llama as shared_tiny_llama

VOCAB = 50


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    return shared_tiny_llama(seed, vocab_size=VOCAB).train()


# --- masks ---------------------------------------------------------------------------------------


def test_principal_mask_finds_a_planted_rank_one_block() -> None:
    support = torch.zeros(8, 8, dtype=torch.bool)
    support[1:5, 2:6] = True  # 16 of 64 coordinates
    noise = 0.01 * torch.randn(8, 8, generator=torch.Generator().manual_seed(0))
    W = 10.0 * support.float() + noise
    mask = principal_mask(W, k=1, alpha=16 / 64)
    assert mask.dtype == torch.bool and mask.shape == W.shape
    assert torch.equal(mask, support)


def test_principal_mask_caps_k_and_counts_exactly() -> None:
    W = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    # k above min(shape): the reconstruction is W itself, so M_princ is the top of |W|.
    assert torch.equal(principal_mask(W, k=100, alpha=0.25), ~low_magnitude_mask(W, alpha=0.75))
    for alpha in (0.0, 0.1, 0.5, 1.0):
        assert int(principal_mask(W, k=2, alpha=alpha).sum()) == round(alpha * 24)


def test_low_magnitude_mask_known_answer_and_stable_ties() -> None:
    W = torch.tensor([[3.0, -1.0, 2.0], [-0.5, 4.0, 0.0]])
    assert torch.equal(low_magnitude_mask(W, 0.5), torch.tensor([[False, True, False], [True, False, True]]))
    # All ties: the lowest flat indices win, every time.
    assert torch.equal(low_magnitude_mask(torch.zeros(2, 3), 0.5), torch.tensor([[True] * 3, [False] * 3]))
    assert int(low_magnitude_mask(torch.randn(7, 3), 0.3).sum()) == round(0.3 * 21)


def test_off_principal_is_low_or_not_principal() -> None:
    W = torch.randn(16, 12, generator=torch.Generator().manual_seed(2))
    expected = low_magnitude_mask(W, 0.5) | ~principal_mask(W, 3, 0.5)
    assert torch.equal(off_principal_mask(W, 3, 0.5), expected)
    assert off_principal_mask(W, 3, 0.5).sum() >= 16 * 12 // 2  # at least NOT M_princ


def test_random_mask_is_exact_and_reproducible() -> None:
    first = random_mask((10, 7), 0.3, torch.Generator().manual_seed(5))
    assert first.dtype == torch.bool and first.shape == (10, 7) and int(first.sum()) == 21
    assert torch.equal(first, random_mask((10, 7), 0.3, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, random_mask((10, 7), 0.3, torch.Generator().manual_seed(6)))
    assert bool(random_mask((3, 3), 1.0, torch.Generator().manual_seed(0)).all())
    with pytest.raises(ValueError, match="density"):
        random_mask((3, 3), 1.5)


def test_changed_mask_compares_storage_bits() -> None:
    W0 = torch.ones(2, 3)
    W1 = W0.clone()
    W1[0, 0] += 1e-5  # rounds away in bf16 (8 mantissa bits), survives in fp32
    W1[1, 2] = 1.5  # a real change
    assert torch.equal(
        changed_mask(W0, W1, torch.bfloat16), torch.tensor([[False] * 3, [False, False, True]])
    )
    assert torch.equal(
        changed_mask(W0, W1, torch.float32), torch.tensor([[True, False, False], [False, False, True]])
    )
    # Bitwise, not by value: -0.0 differs from 0.0, a NaN equals itself.
    signs = changed_mask(torch.tensor([0.0, float("nan")]), torch.tensor([-0.0, float("nan")]), torch.float32)
    assert signs.tolist() == [True, False]


def test_random_mask_depends_on_seed_and_weight_name() -> None:
    masks = {}
    for seed in (0, 0, 1):
        adapter = SparseFineTuning()
        adapter.apply(tiny_llama(), SparseParams(mask="random", density=0.1), ApplyContext(seed=seed))
        masks.setdefault(seed, []).append({w.name: w.mask for w in adapter.weights})
    same, other = masks[0], masks[1][0]
    assert all(torch.equal(same[0][name], same[1][name]) for name in same[0])
    assert not all(torch.equal(same[0][name], other[name]) for name in other)
    name = "model.layers.0.self_attn.q_proj.weight"
    assert int(same[0][name].sum()) == round(0.1 * 32 * 32)
