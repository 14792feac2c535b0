"""Run identity: the TRL config a run's spec decides is part of its id; the machine's settings are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_rlvr_bench.context import RunContext
from peft_rlvr_bench.rlvr.recipes import GRPO
from peft_rlvr_bench.rlvr.train import trainer_config
from peft_rlvr_bench.suite import identity as identity_module
from peft_rlvr_bench.suite import load_suite
from tests.helpers.suites import GOOD, write

WITH_SFT = GOOD + "  - {name: lora, r: 4, lr: 1.0e-3, label: lora-sft, recipe: {name: sft, batch_size: 4}}\n"
MACHINE_ONLY = {
    "output_dir",
    "use_cpu",
    "bf16",
    "logging_steps",
    "report_to",
    "disable_tqdm",
    "save_strategy",
}


def ids(path: Path) -> dict[str, str]:
    return {f"{run.adapter.label}-{run.seed}": run.run_id for run in load_suite(path).runs}


def test_editing_a_recipe_changes_the_run_ids_of_its_runs_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, WITH_SFT)
    before = ids(path)
    monkeypatch.setattr(GRPO, "scale_rewards", "none")  # grpo would compute Dr. GRPO's advantages
    after = ids(path)
    grpo = [key for key in before if not key.startswith("lora-sft")]
    assert all(before[key] != after[key] for key in grpo)
    assert [before[key] for key in before if key.startswith("lora-sft")] == [
        after[key] for key in after if key.startswith("lora-sft")
    ], "the sft entry's runs do not use the grpo recipe"


def test_a_changed_config_field_of_a_recipe_changes_the_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, GOOD)
    before = ids(path)
    original = GRPO.config_fields
    monkeypatch.setattr(
        GRPO,
        "config_fields",
        lambda self, params, processes=1: {
            **original(self, params, processes),
            "shuffle_dataset": False,
        },
    )
    assert set(before.values()).isdisjoint(ids(path).values())


def test_the_identity_holds_the_spec_decided_config_and_the_result_the_machines_too(tmp_path: Path) -> None:
    run = load_suite(write(tmp_path, GOOD)).runs[1]
    decided = run.identity()["train_config"]
    assert decided["loss_type"] == "grpo" and decided["scale_rewards"] == "group"
    assert decided["learning_rate"] == run.adapter.lr and decided["seed"] == run.seed
    assert decided["lr_scheduler_type"] == "constant_with_warmup" and decided["weight_decay"] == 0.0
    assert not MACHINE_ONLY & set(decided), "the device, logging and checkpoints stay out of the id"
    given = trainer_config(run, RunContext(), tmp_path / "trainer")
    assert {key: given[key] for key in decided} == decided
    assert set(given) >= MACHINE_ONLY and given["use_cpu"] is True


def test_observing_settings_stay_out_of_the_id(tmp_path: Path) -> None:
    plain = ids(write(tmp_path, GOOD))
    observed = GOOD + "trajectory: {every: 2}\ncheckpoint: {every: 2}\ngeneration: {backend: transformers}\n"
    assert ids(write(tmp_path, observed.replace("name: t", "name: other"), "observed.yaml")) == plain
    quiet = GOOD.replace("forgetting: [copy]", "forgetting: [copy]\n  keep_samples: false")
    assert ids(write(tmp_path, quiet, "quiet.yaml")) == plain


def test_a_setting_added_later_stays_out_of_the_id_only_at_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mechanism that keeps published ids when a setting is added: pretend eval.kl_items
    arrived after the ids of these runs were published."""
    plain, changed = (
        write(tmp_path, GOOD),
        write(tmp_path, GOOD.replace("forgetting: [copy]", "forgetting: [copy]\n  kl_items: 32"), "kl.yaml"),
    )
    run = load_suite(plain).runs[0]
    published = run.identity()
    del published["eval"]["kl_items"]  # the identity before the field existed
    before = ids(plain), ids(changed)
    eval_later = identity_module.FIELDS_ADDED_LATER.get(("eval",), {})
    monkeypatch.setitem(identity_module.FIELDS_ADDED_LATER, ("eval",), {**eval_later, "kl_items": 64})
    assert run.identity() == published, "at its default it is left out: the published id holds"
    assert run.run_id.endswith(identity_module.digest(published))
    assert ids(changed) == before[1], "set to anything else, it is part of the identity as always"
    assert ids(plain) != before[0]
    base = load_suite(plain).spec.base_identity()
    assert "kl_items" not in base["eval"], "the base evaluation's identity follows the same table"


def test_run_id_changes_with_any_resolved_setting(tmp_path: Path) -> None:
    base = load_suite(write(tmp_path, GOOD)).runs[2]
    changed = load_suite(write(tmp_path, GOOD.replace("r: 4", "r: 8"), "b.yaml")).runs[2]
    assert base.run_id.startswith("lora-s0-") and changed.run_id.startswith("lora-s0-")
    assert base.run_id != changed.run_id


def test_eval_depth_settings_enter_the_run_id_only_when_set(tmp_path: Path) -> None:
    ids = {r.run_id for r in load_suite(write(tmp_path, GOOD)).runs}
    for i, extra in enumerate(["kl_items: 64", "loss_items: 128", "sampling: null"]):
        same = GOOD.replace("forgetting: [copy]", f"forgetting: [copy]\n  {extra}")
        assert {r.run_id for r in load_suite(write(tmp_path, same, f"same{i}.yaml")).runs} == ids, extra
    for i, extra in enumerate(["kl_items: 32", "loss_items: 0", "sampling: {k: 8, temperature: 0.6}"]):
        changed = GOOD.replace("forgetting: [copy]", f"forgetting: [copy]\n  {extra}")
        other = {r.run_id for r in load_suite(write(tmp_path, changed, f"changed{i}.yaml")).runs}
        assert other.isdisjoint(ids), extra


def test_data_reasoning_gym_joined_later_and_stays_out_of_ids_when_empty(tmp_path: Path) -> None:
    """Suites with a ``data`` section (math-1.5b) keep their published ids."""
    run = load_suite(write(tmp_path, GOOD + "data: {template: boxed}\n")).runs[0]
    assert run.identity()["data"] == {"template": "boxed", "sources": {}}
    pytest.importorskip("reasoning_gym")
    knobs = "data: {template: boxed, reasoning_gym: {'rg:chain_sum': {max_terms: 3}}}\n"
    tuned = load_suite(write(tmp_path, GOOD + knobs, "rg.yaml")).runs[0]
    assert tuned.identity()["data"]["reasoning_gym"] == {"rg:chain_sum": {"max_terms": 3}}
    assert tuned.run_id != run.run_id
