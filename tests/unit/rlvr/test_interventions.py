"""Rank-1 substitution: every K updates each block matrix's update becomes norm-matched rank 1."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.rlvr.interventions import norm_matched_rank1, rank1_substitution_callback
from peft_rlvr_bench.suite import load_suite
from tests.helpers.suites import GOOD
from tests.helpers.tiny_models import tiny_llama


def test_norm_matched_rank1_keeps_the_norm_and_the_top_direction() -> None:
    generator = torch.Generator().manual_seed(0)
    u, v = torch.randn(6, generator=generator), torch.randn(4, generator=generator)
    planted = 3.0 * torch.outer(u / u.norm(), v / v.norm()) + 0.1 * torch.randn(6, 4, generator=generator)
    rank1 = norm_matched_rank1(planted)
    assert torch.linalg.matrix_rank(rank1) == 1
    torch.testing.assert_close(torch.linalg.matrix_norm(rank1), torch.linalg.matrix_norm(planted))
    exact = torch.outer(u, v)
    torch.testing.assert_close(norm_matched_rank1(exact), exact, atol=1e-5, rtol=1e-5)
    assert torch.equal(norm_matched_rank1(torch.zeros(3, 2)), torch.zeros(3, 2))


def test_the_callback_substitutes_every_k_updates_and_leaves_the_rest(tmp_path: Path) -> None:
    model = tiny_llama().train()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    callback = rank1_substitution_callback(model, every=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = torch.randint(0, 50, (2, 8), generator=torch.Generator().manual_seed(1))
    name = "model.layers.0.mlp.down_proj.weight"
    for step in range(4):
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        callback.on_optimizer_step(None, SimpleNamespace(global_step=step), None)
        delta = dict(model.named_parameters())[name].detach() - before[name]
        assert (torch.linalg.matrix_rank(delta) == 1) == (step % 2 == 1), f"after update {step + 1}"
    embedding = dict(model.named_parameters())["model.embed_tokens.weight"].detach()
    assert torch.linalg.matrix_rank(embedding - before["model.embed_tokens.weight"]) > 1, (
        "embeddings untouched"
    )


def test_only_full_fine_tuning_takes_the_intervention(tmp_path: Path) -> None:
    good = tmp_path / "ok.yaml"
    good.write_text(
        GOOD.replace(
            "{name: full, lr: 1.0e-4}",
            "{name: full, lr: 1.0e-4, intervention: {name: rank1_substitution, every: 5}}",
        )
    )
    runs = load_suite(good).runs
    assert runs[0].adapter.intervention is not None and runs[0].adapter.intervention.every == 5
    plain = load_suite(_write(tmp_path, GOOD)).runs
    assert runs[0].run_id != plain[0].run_id and runs[2].run_id == plain[2].run_id
    bad = _write(
        tmp_path,
        GOOD.replace(
            "{name: lora, r: 4, lr: 1.0e-3}", "{name: lora, r: 4, lr: 1.0e-3, intervention: {every: 5}}"
        ),
    )
    with pytest.raises(UserError, match=r"adapters\.1\.intervention: .*use it with `full`"):
        load_suite(bad)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path
