"""Saved runs and tasks travel: stock lm-eval on ``prb export-tasks`` output and a saved run's
``final/`` reproduces the harness's accuracy; a LoRA run's ``final/``, copied elsewhere, loads with
stock ``PeftModel.from_pretrained`` with its base resolved by name and its own tokenizer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.paths import final_dir
from peft_rlvr_bench.reporting.results import load_result, run_result_path
from tests.helpers.suites import tiny_suite

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from peft_rlvr_bench.runner import run_suite

    tmp_path = tmp_path_factory.mktemp("interop")
    patch = pytest.MonkeyPatch()
    patch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))
    patch.setattr("peft_rlvr_bench.geometry.model.run_geometry", lambda w0, merged: None)
    suite = tiny_suite(tmp_path, ["{name: full, lr: 1.0e-4}", "{name: lora, r: 4, lr: 1.0e-3}"])
    run_suite(suite, tmp_path / "results")
    runs = {
        run.adapter.label: (
            load_result(run_result_path(tmp_path / "results", suite.spec.name, run.run_id)),
            final_dir(suite.spec.name, run.run_id),
        )
        for run in suite.runs
    }
    yield {"suite": suite, "runs": runs, "tmp": tmp_path}
    patch.undo()


def _stock_accuracy(model_args: str, tasks_dir: Path, batch_size: int) -> float:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    output = simple_evaluate(
        model="hf",
        model_args=model_args,
        tasks=["prb_add"],
        task_manager=TaskManager(include_path=str(tasks_dir), include_defaults=False),
        batch_size=batch_size,
        device="cpu",
        bootstrap_iters=0,
    )
    return output["results"]["prb_add"]["acc,none"]


def test_stock_lm_eval_on_exported_tasks_reproduces_the_recorded_accuracy(saved: dict[str, Any]) -> None:
    from peft_rlvr_bench.evaluation.export_tasks import export_tasks
    from peft_rlvr_bench.models import base_location

    suite, tmp = saved["suite"], saved["tmp"]
    names = export_tasks(suite, tmp / "tasks")
    assert names == ["prb_add"]
    batch = suite.spec.eval.batch_size
    result, final = saved["runs"]["full"]
    recorded = result.metrics["in_domain"].tasks["add"].accuracy
    assert _stock_accuracy(f"pretrained={final},dtype=float32", tmp / "tasks", batch) == recorded
    result, final = saved["runs"]["lora"]
    base = base_location(json.loads((final / "adapter_config.json").read_text())["base_model_name_or_path"])
    recorded = result.metrics["in_domain"].tasks["add"].accuracy
    stock = _stock_accuracy(f"pretrained={base},peft={final},dtype=float32", tmp / "tasks", batch)
    assert stock == pytest.approx(recorded, abs=1 / 16)  # unmerged LoRA: at most one item flips


def test_a_copied_lora_final_loads_with_stock_peft_by_base_name(
    saved: dict[str, Any], tmp_path: Path
) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from peft_rlvr_bench.adapters.checkpoints import load_trained
    from peft_rlvr_bench.models import base_location

    _, final = saved["runs"]["lora"]
    copy = shutil.copytree(final, tmp_path / "elsewhere")
    name = json.loads((copy / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert name == "prb-world-tiny-v2" and "/" not in name
    base = AutoModelForCausalLM.from_pretrained(base_location(name), dtype=torch.float32)
    model = PeftModel.from_pretrained(base, copy).eval()
    tokenizer = AutoTokenizer.from_pretrained(copy)
    ids = tokenizer(["12+34="], return_tensors="pt")
    reference = load_trained(base_location(name), final).eval()
    with torch.no_grad():
        assert torch.equal(model(**ids).logits, reference(**ids).logits)
    assert (saved["runs"]["full"][1] / "tokenizer.json").is_file()
