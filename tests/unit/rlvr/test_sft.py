"""The SFT control: a per-entry recipe override that trains with TRL's SFTTrainer."""

from __future__ import annotations

from pathlib import Path

import torch

from peft_rlvr_bench.adapters import ApplyContext
from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.models import load_base
from peft_rlvr_bench.registry import ADAPTERS, VERIFIERS
from peft_rlvr_bench.rlvr.train import run_recipe, training_items
from peft_rlvr_bench.suite import load_suite
from tests.helpers.suites import GOOD, write

SFT_SUITE = GOOD.replace(
    "  - {name: lora, r: 4, lr: 1.0e-3}\n",
    "  - {name: lora, r: 4, lr: 1.0e-3}\n"
    "  - {name: lora, r: 4, lr: 1.0e-3, label: lora-sft, recipe: {name: sft, batch_size: 4}}\n",
)


def test_an_entry_recipe_overrides_the_suite_recipe_for_its_runs_only(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, SFT_SUITE))
    recipes = {run.adapter.label: run.recipe for run in suite.runs}
    assert recipes["lora"].name == "grpo" and recipes["full"].name == "grpo"
    assert recipes["lora-sft"].name == "sft" and recipes["lora-sft"].params["batch_size"] == 4
    lora = {run.seed: run.run_id for run in suite.runs if run.adapter.label == "lora"}
    # The override must not change the ids of the other entries' runs.
    assert lora == {
        run.seed: run.run_id
        for run in load_suite(write(tmp_path, GOOD, "plain.yaml")).runs
        if run.adapter.label == "lora"
    }


def test_sft_targets_are_answers_the_verifier_accepts(tmp_path: Path) -> None:
    run = next(r for r in load_suite(write(tmp_path, SFT_SUITE)).runs if r.adapter.label == "lora-sft")
    items = training_items(run, RunContext())
    assert len(items) == run.budget.max_steps * 4, "batch_size examples per update"
    verifier = VERIFIERS.get("int_match")
    assert all(verifier(item.answer, item.answer) == 1.0 for item in items)
    assert len({item.prompt for item in items}) > 1


def test_sft_trains_only_the_adapter_and_logs_a_falling_loss(tmp_path: Path) -> None:
    run = next(r for r in load_suite(write(tmp_path, SFT_SUITE)).runs if r.adapter.label == "lora-sft")
    run = run.model_copy(update={"budget": run.budget.model_copy(update={"max_steps": 8})})
    model, tokenizer = load_base(run.model)
    base = {name: p.detach().clone() for name, p in model.named_parameters()}
    adapter = ADAPTERS.get("lora")()
    model = adapter.apply(model, adapter.Params.model_validate(run.adapter.params), ApplyContext(seed=0))
    curve, config = run_recipe(run, model, tokenizer, tmp_path / "trainer")
    assert config["completion_only_loss"] and config["per_device_train_batch_size"] == 4
    assert [record.step for record in curve] == list(range(1, 9))
    assert all(record.loss is not None and record.reward_mean is None for record in curve)
    assert curve[-1].loss < curve[0].loss
    merged = adapter.merge(model)
    changed = [name for name, p in merged.named_parameters() if not torch.equal(p.detach(), base[name])]
    assert changed and all("proj" in name for name in changed), changed
