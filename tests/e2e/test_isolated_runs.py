"""Each run in a process of its own (``launch: {isolate: true}``, the default on a CUDA machine),
end to end on CPU: the same results as in-process, progress reported, a failed base contained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.reporting.results import RunResult, load_result, run_result_path
from peft_rlvr_bench.suite import load_suite
from tests.e2e.test_scale_out import comparable as comparable_figures
from tests.helpers.suites import write_scale_suite


def comparable(result: RunResult) -> dict[str, Any]:
    """What two executions of a run share: less timings and provenance (the environment too: the
    child stamps the same machine, but its lock check runs in another interpreter), and the
    trainer's scratch directory, which lies under each execution's own outputs directory."""
    data = comparable_figures(result)
    data.pop("environment")
    if data.get("train_config"):
        data["train_config"].pop("output_dir")
    return data


@pytest.mark.slow
@pytest.mark.e2e
def test_isolated_runs_write_what_in_process_runs_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft_rlvr_bench.runner import run_suite

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the children's threads, as this process's
    results = {}
    for mode in ("in-process", "isolated"):
        launch = {"isolate": mode == "isolated"}
        (tmp_path / mode).mkdir()
        suite = load_suite(write_scale_suite(tmp_path / mode, launch=launch))
        monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / mode / "outputs"))
        results[mode] = tmp_path / mode / "results"
        outcome = run_suite(suite, results[mode])
        assert all(result.status == "ok" for result in outcome.ran), [r.reason for r in outcome.ran]
    ids = [*(run.run_id for run in suite.runs), *(derived.run_id for derived in suite.derived)]
    for run_id in ids:
        isolated = load_result(run_result_path(results["isolated"], "scale", run_id))
        in_process = load_result(run_result_path(results["in-process"], "scale", run_id))
        assert comparable(isolated) == comparable(in_process), run_id
    assert comparable(load_result(results["isolated"] / "scale" / "base.json")) == comparable(
        load_result(results["in-process"] / "scale" / "base.json")
    )
    log = tmp_path / "isolated" / "outputs" / "scale" / suite.runs[0].run_id / "run.log"
    assert f"wrote {suite.runs[0].run_id} (ok)" in log.read_text()
