"""The extrapolation contract's shared pieces: tensor kinds and each method's checks of its window."""

from __future__ import annotations

import pytest
import torch

from peft_rlvr_bench.architecture import is_block_matrix
from peft_rlvr_bench.extrapolation import (
    is_norm_or_bias,
)
from peft_rlvr_bench.extrapolation.alpharl import AlphaRL, AlphaRLParams
from peft_rlvr_bench.extrapolation.linear import Linear, LinearParams
from peft_rlvr_bench.extrapolation.relex import RELEX, RELEXParams
from tests.helpers.synthetic import BLOCK, randn


def test_tensor_kinds() -> None:
    assert is_block_matrix("model.layers.3.mlp.down_proj.weight", torch.zeros(4, 3))
    assert not is_block_matrix("model.embed_tokens.weight", torch.zeros(4, 3))
    assert not is_block_matrix("lm_head.weight", torch.zeros(4, 3))
    assert not is_block_matrix("model.norm.weight", torch.zeros(4))
    assert is_norm_or_bias("model.layers.0.input_layernorm.weight", torch.zeros(4))
    assert not is_norm_or_bias(BLOCK, torch.zeros(4, 3))


def test_method_specific_bad_input() -> None:
    w0 = randn(4, 3, seed=0)
    weights = [w0 + t for t in (1, 2, 3)]
    with pytest.raises(ValueError, match="rank=4 exceeds the 3 trajectory rows"):
        RELEX().predict(BLOCK, w0, [1, 2, 3], weights, 10, RELEXParams(rank=4))
    with pytest.raises(ValueError, match="degree-3 fit needs at least 4 trajectory rows"):
        RELEX().validate([1, 2, 3], 10, RELEXParams(degree=3))
    with pytest.raises(ValueError, match="at least 2 trajectory rows, got 1"):  # step 0 is not an observation
        RELEX().validate([0, 5], 10, RELEXParams())
    RELEX().validate([5], 10, RELEXParams(include_base=True))  # the base row makes two
    with pytest.raises(ValueError, match="after step 0"):
        AlphaRL().validate([0, 5], 10, AlphaRLParams())
    with pytest.raises(ValueError, match="name the same checkpoint"):
        Linear().validate([1, 2, 3], 10, LinearParams(t0_index=2, t1_index=-1))
    with pytest.raises(ValueError, match="out of range"):
        Linear().validate([1, 2, 3], 10, LinearParams(t0_index=-4))
    Linear().validate([1, 2, 3], 2, LinearParams())  # interpolation is allowed
