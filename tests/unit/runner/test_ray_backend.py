"""The Ray backend: what each task asks of the cluster."""

from __future__ import annotations

from pathlib import Path

from peft_rlvr_bench.suite import load_suite
from tests.helpers.suites import write_scale_suite


def test_ray_tasks_ask_for_the_gpus_their_run_uses(tmp_path: Path) -> None:
    from peft_rlvr_bench.runner.plan import Work
    from peft_rlvr_bench.runner.ray_backend import task_gpus

    plain = load_suite(write_scale_suite(tmp_path))
    launched = load_suite(write_scale_suite(tmp_path, name="l", launch={"processes": 4, "strategy": "zero2"}))
    trained, derived = Work(launched.runs[0]), Work(launched.derived[0])
    assert task_gpus(launched, trained, cluster_has_gpus=True) == 4
    assert task_gpus(launched, derived, cluster_has_gpus=True) == 1, "extrapolations run in one process"
    assert task_gpus(launched, None, cluster_has_gpus=True) == 1, "the base evaluation"
    assert task_gpus(plain, Work(plain.runs[0]), cluster_has_gpus=True) == 1
    assert task_gpus(plain, Work(plain.runs[0]), cluster_has_gpus=False) == 0
    assert task_gpus(launched, trained, cluster_has_gpus=False) == 0


def test_ray_tasks_get_the_hugging_face_token_and_caches(monkeypatch) -> None:
    from peft_rlvr_bench.runner.ray_backend import _environment

    monkeypatch.setenv("HF_TOKEN", "hf_x")
    monkeypatch.setenv("HF_HOME", "/data/hf")
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    environment = _environment()
    assert environment["HF_TOKEN"] == "hf_x" and environment["HF_HOME"] == "/data/hf"
    assert "HF_DATASETS_CACHE" not in environment and "PRB_OUTPUTS_DIR" in environment
