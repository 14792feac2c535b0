"""The training path: the TRL config a run trains with."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_rlvr_bench.suite import load_suite
from tests.helpers.suites import write_scale_suite


def test_each_process_gets_its_share_of_the_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.rlvr.recipes import GRPO, RecipeParams
    from peft_rlvr_bench.rlvr.train import trainer_config

    params = RecipeParams(prompts_per_step=2, num_generations=4)
    assert GRPO().config_fields(params)["per_device_train_batch_size"] == 8
    assert GRPO().config_fields(params, processes=2)["per_device_train_batch_size"] == 4
    with pytest.raises(ValueError, match="does not split evenly over 3 processes"):
        GRPO().config_fields(params, processes=3)
    # A launched process trains with its share and records it; the run id keeps the whole batch.
    run = load_suite(write_scale_suite(tmp_path)).runs[0]
    run_id = run.run_id
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert trainer_config(run, RunContext(), tmp_path)["per_device_train_batch_size"] == 4
    assert run.run_id == run_id


def test_report_to_reaches_trls_config_with_the_run_id_as_run_name(tmp_path: Path) -> None:
    from trl import GRPOConfig

    from peft_rlvr_bench.context import RunContext
    from peft_rlvr_bench.rlvr.train import trainer_config
    from tests.helpers.suites import write

    text = write_scale_suite(tmp_path).read_text()
    plain = load_suite(write(tmp_path, text)).runs[0]
    tracked = load_suite(write(tmp_path, text + "tracking: {report_to: [tensorboard]}\n")).runs[0]
    assert tracked.run_id == plain.run_id, "tracking observes a run: not part of its id"
    config = GRPOConfig(**trainer_config(tracked, RunContext(), tmp_path))
    assert config.report_to == ["tensorboard"] and config.run_name == tracked.run_id
    assert GRPOConfig(**trainer_config(plain, RunContext(), tmp_path)).report_to == []
