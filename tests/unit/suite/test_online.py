"""``prb validate --online`` on local fixtures: the model's config and one row of every split the
suite reads, with one line per problem (gated, missing, wrong column); the hub is monkeypatched."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peft_rlvr_bench.suite import load_suite, online
from tests.helpers.datasets import SOURCES, SUITE
from tests.helpers.suites import write


def local_suite(tmp_path: Path, sources: dict[str, dict[str, str]] | None = None) -> Path:
    """The dataset suite on a tiny local model and the fixture datasets."""
    from tests.helpers.tiny_models import tiny_llama

    model = tmp_path / "model"
    if not model.exists():
        tiny_llama(0).save_pretrained(model)
    data = {"sources": {**SOURCES, **(sources or {})}}
    text = SUITE.replace(
        "model: {name: Qwen/Qwen2.5-Math-1.5B}", f"model: {{name: Qwen/Qwen2.5-Math-1.5B, path: {model}}}"
    )
    return write(tmp_path, text + f"data: {json.dumps(data)}\n")


def test_a_suite_whose_model_and_splits_load_passes(tmp_path: Path) -> None:
    from peft_rlvr_bench.cli import app

    path = local_suite(tmp_path)
    assert online.online_problems(load_suite(path)) == []
    done = CliRunner().invoke(app, ["validate", str(path), "--online"])
    assert done.exit_code == 0, done.output
    assert "online" in done.output


def test_a_wrong_column_is_one_line_naming_the_task_and_the_fix(tmp_path: Path) -> None:
    from peft_rlvr_bench.cli import app

    renamed = tmp_path / "math500.jsonl"
    rows = [json.loads(line) for line in (Path(SOURCES["math500"]["path"])).read_text().splitlines()[:3]]
    renamed.write_text(
        "".join(json.dumps({"question": r["problem"], "answer": r["answer"]}) + "\n" for r in rows)
    )
    path = local_suite(tmp_path, {"math500": {"path": str(renamed)}})
    (problem,) = online.online_problems(load_suite(path))
    assert problem.startswith(f"{path}: task math500 (eval split: {renamed})")
    assert "no column 'problem'" in problem and "point data.sources.math500 at a copy" in problem
    done = CliRunner().invoke(app, ["validate", str(path), "--online"])
    assert done.exit_code == 2 and "1 online check(s) failed" in done.output
    assert "Traceback" not in done.output


def test_gated_and_missing_hub_repositories_are_one_line_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datasets
    from datasets.exceptions import DatasetNotFoundError
    from huggingface_hub.errors import GatedRepoError

    def hub(path: str, name: str | None = None, **_: object) -> object:
        if "gpqa" in path:
            response = types.SimpleNamespace(headers={}, request=None)  # what the error reads of it
            raise GatedRepoError("Access to dataset Idavidrein/gpqa is restricted", response=response)
        raise DatasetNotFoundError(f"Dataset '{path}' doesn't exist on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", hub)
    sources = {task: source for task, source in SOURCES.items() if task not in ("gpqa_diamond", "mmlu")}
    text = SUITE.replace("forgetting: [mmlu]", "forgetting: [mmlu]\n  out_of_domain: [gpqa_diamond]")
    model = tmp_path / "model"
    from tests.helpers.tiny_models import tiny_llama

    tiny_llama(0).save_pretrained(model)
    text = text.replace(
        "model: {name: Qwen/Qwen2.5-Math-1.5B}", f"model: {{name: Qwen/Qwen2.5-Math-1.5B, path: {model}}}"
    )
    path = write(tmp_path, text + f"data: {json.dumps({'sources': sources})}\n")
    problems = online.online_problems(load_suite(path))
    assert len(problems) == 2, problems
    gated = next(p for p in problems if "gpqa_diamond" in p)
    missing = next(p for p in problems if "task mmlu" in p)
    page = "https://huggingface.co/datasets/Idavidrein/gpqa"
    assert f"Idavidrein/gpqa is gated on the hub: accept its terms at {page} and set HF_TOKEN" in gated
    assert "no dataset cais/mmlu on the hub" in missing and "set data.sources.mmlu to a local copy" in missing
    assert all("\n" not in p for p in problems)


def test_a_missing_model_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing cached, nothing reachable
    text = SUITE.replace("Qwen/Qwen2.5-Math-1.5B", "nobody/no-such-model")
    path = write(tmp_path, text + f"data: {json.dumps({'sources': SOURCES})}\n")
    (problem,) = online.online_problems(load_suite(path))
    assert problem.startswith(f"{path}: model.name: cannot load model nobody/no-such-model (")
    assert problem.endswith("; set model.path to a local copy") and "\n" not in problem
