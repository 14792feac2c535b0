"""Sparse subnetwork fine-tuning (docs/methods.md, "Sparse subnetwork masks"): the adapter, the
bitwise freeze under AdamW, and masks read from a run's update (the masks themselves: test_masks.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import save_file
from transformers import LlamaForCausalLM

from peft_rlvr_bench.adapters import ApplyContext, count_parameters
from peft_rlvr_bench.adapters.masks import (
    off_principal_mask,
    random_mask,
)
from peft_rlvr_bench.adapters.sparse import SparseFineTuning, SparseParams, restore_masked_
from peft_rlvr_bench.registry import ADAPTERS
from tests.helpers.tiny_models import tiny_llama as shared_tiny_llama

VOCAB = 50


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    return shared_tiny_llama(seed, vocab_size=VOCAB).train()


def batch(seed: int) -> torch.Tensor:
    return torch.randint(0, VOCAB, (2, 12), generator=torch.Generator().manual_seed(seed))


# --- the adapter ---------------------------------------------------------------------------------


def test_registered_and_params_validated() -> None:
    assert ADAPTERS.get("sparse") is SparseFineTuning
    assert SparseFineTuning.rewrites_base is False
    with pytest.raises(ValidationError):
        SparseParams(density=0.0)
    with pytest.raises(ValidationError):
        SparseParams(mask="magnitude")


def test_apply_freezes_everything_but_masked_block_weights() -> None:
    model = tiny_llama()
    W0 = {name: p.detach().clone() for name, p in model.named_parameters()}
    adapter = SparseFineTuning()
    assert adapter.apply(model, SparseParams(), ApplyContext()) is model
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {w.name for w in adapter.weights}
    assert len(trainable) == 2 * 7  # q k v o gate up down, two layers
    assert all(".layers." in name and name.endswith("_proj.weight") for name in trainable)
    for weight in adapter.weights:  # default source: the off-principal mask of W0
        assert torch.equal(weight.mask, off_principal_mask(W0[weight.name], 16, 0.5))

    stats = adapter.mask_stats()
    assert stats["trainable_coordinates"] == adapter.trainable_coordinates(model)
    assert stats["trainable_coordinates"] < count_parameters(model)[0]  # numel overstates it
    assert 0.5 <= stats["mask_density"] < 1.0
    assert adapter.merge(model) is model


def test_hooks_need_apply_first() -> None:
    with pytest.raises(RuntimeError, match="apply"):
        SparseFineTuning().hooks(tiny_llama(), SparseParams())


def test_restore_masked_is_bitwise() -> None:
    original = torch.randn(4, 5)
    mask = random_mask((4, 5), 0.4, torch.Generator().manual_seed(0))
    param = torch.nn.Parameter(original.clone())
    with torch.no_grad():
        param.mul_(0.9).add_(1e-3)
    restore_masked_(param, mask, original[~mask].clone())
    assert torch.equal(param[~mask], original[~mask]) and not torch.equal(param[mask], original[mask])
    param2 = torch.nn.Parameter(original * 2)
    restore_masked_(param2, mask, original)  # a full-shape original works too
    assert torch.equal(param2[~mask], original[~mask])


def _train(
    restore: bool, steps: int = 3
) -> tuple[SparseFineTuning, dict[str, torch.Tensor], LlamaForCausalLM]:
    """Emulates the Trainer order: backward, optimizer.step(), on_optimizer_step, zero_grad."""
    from transformers import TrainerControl, TrainerState
    from transformers.trainer_callback import CallbackHandler

    model = tiny_llama()
    adapter = SparseFineTuning()
    adapter.apply(model, SparseParams(mask="random", density=0.3), ApplyContext(seed=7))
    W0 = {name: p.detach().clone() for name, p in model.named_parameters()}
    handler = CallbackHandler(adapter.hooks(model, SparseParams()).callbacks, model, None, None, None)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.1
    )
    for step in range(steps):
        inputs = batch(step)
        model(input_ids=inputs, labels=inputs).loss.backward()
        for weight in adapter.weights:  # the gradient hook already zeroed the frozen coordinates
            assert not weight.param.grad[~weight.mask].any() and weight.param.grad[weight.mask].any()
        optimizer.step()
        if restore:
            handler.on_optimizer_step(None, TrainerState(), TrainerControl())
        optimizer.zero_grad()
    return adapter, W0, model


def test_frozen_coordinates_stay_bitwise_under_adamw() -> None:
    adapter, W0, model = _train(restore=True)
    for weight in adapter.weights:
        before, after = W0[weight.name], weight.param.detach()
        assert torch.equal(after[~weight.mask], before[~weight.mask])
        assert bool((after[weight.mask] != before[weight.mask]).all())
    for name, parameter in model.named_parameters():  # embeddings, norms, lm_head: untouched
        if not parameter.requires_grad:
            assert torch.equal(parameter, W0[name])


def test_gradient_hook_alone_lets_adamw_move_frozen_coordinates() -> None:
    # Same run without the post-step restore: zero gradients, yet decoupled weight decay moves
    # every frozen coordinate. This is why the callback exists.
    adapter, W0, _ = _train(restore=False)
    for weight in adapter.weights:
        before, after = W0[weight.name], weight.param.detach()
        assert bool((after[~weight.mask] != before[~weight.mask]).all())


@pytest.mark.parametrize("with_callback", [True, False])
def test_real_trainer_calls_the_restore(tmp_path: Path, with_callback: bool) -> None:
    # transformers' own loop (the one GRPOTrainer inherits) fires on_optimizer_step after optimizer.step().
    from transformers import Trainer, TrainingArguments

    model = tiny_llama()
    adapter = SparseFineTuning()
    adapter.apply(model, SparseParams(mask="random", density=0.2), ApplyContext(seed=1))
    W0 = {w.name: w.param.detach().clone() for w in adapter.weights}
    data = [{"input_ids": batch(i)[0], "labels": batch(i)[0]} for i in range(4)]
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-2,
        weight_decay=0.1,
        lr_scheduler_type="constant",
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        dataloader_num_workers=0,
    )
    callbacks = adapter.hooks(model, SparseParams()).callbacks if with_callback else []
    Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks).train()
    for weight in adapter.weights:
        after = weight.param.detach()
        assert torch.equal(after[~weight.mask], W0[weight.name][~weight.mask]) is with_callback
        assert not torch.equal(after[weight.mask], W0[weight.name][weight.mask])


@pytest.mark.parametrize("stored_dtype", [torch.float32, torch.bfloat16])
def test_rl_delta_mask_is_exactly_the_changed_coordinates(tmp_path: Path, stored_dtype: torch.dtype) -> None:
    base = tiny_llama()
    final = {name: p.detach().to(stored_dtype).clone() for name, p in base.state_dict().items()}
    target = "model.layers.1.mlp.down_proj.weight"
    changed = [(0, 0), (3, 17), (31, 63)]
    for row, col in changed:
        final[target][row, col] += 1.0
    save_file(final, str(tmp_path / "model.safetensors"))

    adapter = SparseFineTuning()
    adapter.apply(base, SparseParams(mask="rl_delta"), ApplyContext(dependency_dirs={"rl_delta": tmp_path}))
    masks = {w.name: w.mask for w in adapter.weights}
    expected = torch.zeros_like(masks[target])
    for row, col in changed:
        expected[row, col] = True
    assert torch.equal(masks[target], expected)
    # A base weight cast to the storage dtype is "unchanged", even in bf16.
    assert not any(mask.any() for name, mask in masks.items() if name != target)
    assert adapter.trainable_coordinates(base) == len(changed)


def test_rl_delta_without_dependency_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"rl_delta.*finished full run"):
        SparseFineTuning().apply(tiny_llama(), SparseParams(mask="rl_delta"), ApplyContext())
    with pytest.raises(ValueError, match=r"no model\.safetensors"):
        SparseFineTuning().apply(
            tiny_llama(), SparseParams(mask="rl_delta"), ApplyContext(dependency_dirs={"rl_delta": tmp_path})
        )


def _as_bf16_bits(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to(torch.bfloat16).view(torch.int16)


def _synthetic_full_run(base: LlamaForCausalLM, directory: Path) -> dict[str, torch.Tensor]:
    """A "finished full run": every coordinate drifts a little in fp32, as AdamW moves them all."""
    generator = torch.Generator().manual_seed(7)
    final = {
        name: (p.detach() + 2e-4 * torch.randn(p.shape, generator=generator)).contiguous()
        for name, p in base.state_dict().items()
    }
    directory.mkdir(parents=True, exist_ok=True)
    save_file(final, str(directory / "model.safetensors"))
    return final


def test_a_sparse_rl_run_trains_exactly_what_its_source_changed_at_bf16(tmp_path: Path) -> None:
    from transformers import Trainer, TrainingArguments

    from peft_rlvr_bench.geometry import GeometryParams, summarise

    model = tiny_llama()
    W0 = {name: p.detach().clone() for name, p in model.named_parameters()}
    final = _synthetic_full_run(model, tmp_path / "full-run")
    adapter = SparseFineTuning()
    params = SparseParams(mask="rl_delta")
    adapter.apply(model, params, ApplyContext(dependency_dirs={"rl_delta": tmp_path / "full-run"}))

    changed_bf16 = {
        w.name: _as_bf16_bits(W0[w.name]) != _as_bf16_bits(final[w.name]) for w in adapter.weights
    }
    numel = sum(mask.numel() for mask in changed_bf16.values())
    share = sum(int(mask.sum()) for mask in changed_bf16.values()) / numel
    changed_fp32 = sum(int((W0[w.name] != final[w.name]).sum()) for w in adapter.weights) / numel
    assert changed_fp32 == 1.0 and 0.05 < share < 0.95, "the source is the case where fp32 and bf16 disagree"
    for weight in adapter.weights:
        assert torch.equal(weight.mask, changed_bf16[weight.name])
    # The source run's "Unchanged %" (the geometry's headline over block matrices) is the complement.
    source_geometry = summarise(((name, W0[name], final[name]) for name in W0), GeometryParams(ks=(4,)))
    assert adapter.mask_stats()["mask_density"] == pytest.approx(share)
    assert share == pytest.approx(1 - source_geometry.headline.update_sparsity)
    assert adapter.trainable_coordinates(model) == round(share * numel)

    data = [{"input_ids": batch(i)[0], "labels": batch(i)[0]} for i in range(4)]
    args = TrainingArguments(
        output_dir=str(tmp_path / "trainer"),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-2,
        weight_decay=0.1,
        lr_scheduler_type="constant",
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        dataloader_num_workers=0,
    )
    Trainer(
        model=model, args=args, train_dataset=data, callbacks=adapter.hooks(model, params).callbacks
    ).train()
    trained = dict(model.named_parameters())
    moved = sum(int((trained[name].detach() != W0[name]).sum()) for name in changed_bf16)
    assert all(
        torch.equal(trained[name].detach()[~mask], W0[name][~mask]) for name, mask in changed_bf16.items()
    )
    assert moved == round(share * numel), "every coordinate the source changed at bf16 trains, no other"


def test_rl_delta_can_still_compare_at_float32_and_delta_dtype_needs_rl_delta(tmp_path: Path) -> None:
    model = tiny_llama()
    _synthetic_full_run(model, tmp_path)
    adapter = SparseFineTuning()
    adapter.apply(
        model,
        SparseParams(mask="rl_delta", delta_dtype="float32"),
        ApplyContext(dependency_dirs={"rl_delta": tmp_path}),
    )
    assert adapter.mask_stats()["mask_density"] == 1.0
    with pytest.raises(ValidationError, match="delta_dtype applies to mask 'rl_delta' only"):
        SparseParams(mask="random", delta_dtype="float32")


def test_delta_dtype_is_in_the_resolved_spec_of_rl_delta_runs_only() -> None:
    # Other masks keep the run ids they had before the field existed; rl_delta runs, whose mask
    # changed with it, get new ones.
    assert "delta_dtype" not in SparseParams(mask="random").model_dump(mode="json")
    assert SparseParams(mask="rl_delta").model_dump(mode="json")["delta_dtype"] == "bfloat16"
    assert (
        SparseParams.model_validate(SparseParams(mask="off_principal").model_dump()).mask == "off_principal"
    )
