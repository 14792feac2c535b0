"""The geometry summary: per-tensor records grouped by layer type and depth, pooled sparsity."""

from __future__ import annotations

import pytest
import torch

from peft_rlvr_bench import geometry as geo
from tests.helpers.synthetic import next_bf16, randn

# --- the streaming summary ------------------------------------------------------------------


def test_summary_groups_by_layer_type_and_depth_and_pools_sparsity() -> None:
    names_and_shapes = [
        ("model.embed_tokens.weight", (50, 16)),
        ("model.layers.0.self_attn.q_proj.weight", (16, 16)),
        ("model.layers.0.mlp.down_proj.weight", (16, 32)),
        ("model.layers.0.input_layernorm.weight", (16,)),
        ("model.layers.1.self_attn.q_proj.weight", (16, 16)),
        ("lm_head.weight", (50, 16)),
    ]
    touched_per_tensor = {name: 3 * (i + 1) for i, (name, _) in enumerate(names_and_shapes)}
    seen: list[str] = []

    def pairs():  # a generator: the summary must stream
        for i, (name, shape) in enumerate(names_and_shapes):
            seen.append(name)
            base = randn(*shape, seed=20 + i, dtype=torch.bfloat16)
            tuned = base.clone().reshape(-1)
            where = torch.arange(touched_per_tensor[name])
            tuned[where] = next_bf16(tuned[where])
            yield name, base, tuned.reshape(shape)

    summary = geo.summarise(pairs(), geo.GeometryParams(ks=(4,), mask_k=4))
    assert seen == [name for name, _ in names_and_shapes]
    by_name = {t.name: t for t in summary.tensors}
    assert by_name["model.embed_tokens.weight"].matrix is None
    assert by_name["lm_head.weight"].matrix is None
    assert by_name["model.layers.0.input_layernorm.weight"].matrix is None
    assert by_name["model.layers.0.input_layernorm.weight"].update_sparsity == 1 - 12 / 16
    assert set(summary.by_layer_type) == {"q_proj", "down_proj"}
    assert set(summary.by_depth) == {0, 1}
    assert summary.by_layer_type["q_proj"].tensors == 2
    assert summary.by_depth[0].tensors == 2
    blocks = ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight"]
    blocks.append("model.layers.1.self_attn.q_proj.weight")
    pooled = 1 - sum(touched_per_tensor[n] for n in blocks) / sum(by_name[n].numel for n in blocks)
    assert summary.headline.update_sparsity == pytest.approx(pooled)
    all_pooled = 1 - sum(touched_per_tensor.values()) / sum(t.numel for t in summary.tensors)
    assert summary.update_sparsity_all == pytest.approx(all_pooled)
    shifts = [by_name[n].matrix.spectral_shift for n in blocks]
    assert summary.headline.means["spectral_shift"] == pytest.approx(sum(shifts) / 3)
    assert summary.headline.means["principal_angle_left_deg@4"] is not None
    # Round-trips through JSON (undefined values are None, never NaN).
    assert geo.GeometrySummary.model_validate_json(summary.model_dump_json()) == summary


def test_names_give_layer_type_and_depth() -> None:
    assert geo.layer_type("model.layers.12.self_attn.o_proj.weight") == "o_proj"
    assert geo.layer_type("model.layers.3.mlp.gate_proj.base_layer.weight") == "gate_proj"
    assert geo.layer_index("model.layers.12.self_attn.o_proj.weight") == 12
    assert geo.layer_index("model.decoder.layers.7.fc1.weight") == 7
    assert geo.layer_index("model.norm.weight") is None
    assert geo.layer_index("model.sublayers.4.x.weight") is None


def test_shape_mismatch_names_the_tensor() -> None:
    with pytest.raises(ValueError, match="q_proj"):
        geo.summarise([("layers.0.q_proj.weight", torch.zeros(4, 4), torch.zeros(4, 5))])
