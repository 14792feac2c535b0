"""Per-item scores in the result JSON and the samples sidecar next to it (reporting/samples.py):
written short, before the JSON, read back as a table."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from peft_rlvr_bench.reporting.results import (
    ItemSample,
    RoleScore,
    RunResult,
    TaskScore,
    load_result,
    save_result,
)
from peft_rlvr_bench.reporting.samples import (
    read_samples,
    samples_path,
    save_result_and_samples,
    write_samples,
)


def a_result(samples: list[ItemSample] | None, reason: str | None = None) -> RunResult:
    score = TaskScore(
        accuracy=0.5, n=4, items=[1.0, 0.0, 0.0, 1.0], sampled_items=[0.25, 1.0, 0.0, 0.5], items_digest="abc"
    )
    return RunResult(
        suite="s",
        run_id="lora-s0-1",
        method="lora",
        seed=0,
        status="ok" if samples is not None else "failed",
        reason=reason,
        spec={},
        metrics={"in_domain": RoleScore.from_tasks({"add": score})},
        samples=samples,
    )


SAMPLES = [
    ItemSample(task="add", index=0, prompt="1+1=", target="2", response="2", score=1.0),
    ItemSample(
        task="add",
        index=1,
        prompt="2+2=",
        target="4",
        response="5",
        score=0.0,
        responses=["4", "ü\n4"],
        scores=[1.0, 0.0],
    ),
]


def test_item_scores_are_written_short_on_one_line_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    tricky = 'a list in text: "items": [\n1] and [1.0, 0.0]'
    save_result(a_result(SAMPLES, reason=tricky), path)
    text = path.read_text()
    assert '"items": [1,0,0,1],' in text and '"sampled_items": [0.25,1,0,0.5],\n' in text
    assert "samples" not in json.loads(text), "the answers never go into the JSON"
    back = load_result(path)
    assert back.reason == tricky
    assert back.metrics["in_domain"].tasks["add"].items == [1.0, 0.0, 0.0, 1.0]
    assert back.samples is None and back == a_result(SAMPLES, reason=tricky).model_copy(
        update={"samples": None}
    )


def test_the_sidecar_round_trips_and_reads_as_a_table(tmp_path: Path) -> None:
    import pandas as pd

    path = samples_path(tmp_path, "s", "lora-s0-1")
    assert path == tmp_path / "s" / "samples" / "lora-s0-1.jsonl.gz"
    write_samples(path, SAMPLES)
    first = path.read_bytes()
    write_samples(path, SAMPLES)
    assert path.read_bytes() == first, "the same answers, the same bytes"
    assert read_samples(path) == SAMPLES
    lines = gzip.decompress(first).decode().splitlines()
    assert "responses" not in json.loads(lines[0]), "absent fields are left out, not null"
    table = pd.read_json(path, lines=True, dtype=False)  # without dtype=False, "007" would become 7
    assert list(table["response"]) == ["2", "5"] and table["scores"][1] == [1.0, 0.0]
    assert not list(path.parent.glob(".*.tmp"))


def test_the_sidecar_is_written_before_the_json_and_a_result_without_samples_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft_rlvr_bench.reporting import samples as samples_module

    path, sidecar = tmp_path / "runs" / "r.json", samples_path(tmp_path, "s", "r")
    real_save = samples_module.save_result

    def save_after_the_sidecar(result: RunResult, where: Path) -> None:
        assert sidecar.exists() == (result.samples is not None), "sidecar first, or already gone"
        real_save(result, where)

    monkeypatch.setattr(samples_module, "save_result", save_after_the_sidecar)
    returned = save_result_and_samples(a_result(SAMPLES), path, sidecar)
    assert returned.samples is None and returned == load_result(path)
    assert read_samples(sidecar) == SAMPLES

    rerun = [SAMPLES[0].model_copy(update={"response": "3", "score": 0.0})]
    save_result_and_samples(a_result(rerun), path, sidecar)
    assert read_samples(sidecar) == rerun, "a rerun rewrites its sidecar"

    save_result_and_samples(a_result(None, reason="boom"), path, sidecar)
    assert not sidecar.exists() and load_result(path).status == "failed", "no stale answers"
