"""The runner's contract, without training: failures are contained, finished runs are skipped, a rerun
rewrites a run's samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.reporting.results import (
    ItemSample,
    RunResult,
    load_result,
    run_result_path,
)
from peft_rlvr_bench.reporting.samples import (
    read_samples,
    samples_path,
)
from peft_rlvr_bench.runner import execute, run_suite
from peft_rlvr_bench.suite import load_suite
from tests.helpers.suites import load_short_eval_suite

SUITE = """\
name: unit
train_task: add
eval: {in_domain: [add]}
recipe: {name: grpo}
budget: {max_steps: 2}
seeds: [0, 1]
adapters:
  - {name: full, lr: 1.0e-4}
"""


def fake_result(run_id: str, method: str, status: str = "ok") -> RunResult:
    return RunResult(suite="unit", run_id=run_id, method=method, seed=0, status=status, spec={})  # type: ignore[arg-type]


@pytest.fixture
def suite(tmp_path: Path) -> Any:
    path = tmp_path / "unit.yaml"
    path.write_text(SUITE)
    return load_suite(path)


def test_a_failing_run_becomes_a_failed_result(
    suite: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("out of patience\nsecond line")

    monkeypatch.setattr(execute, "train_and_evaluate", boom)
    result = execute.execute_run(suite.runs[0])
    assert result.status == "failed"
    assert result.reason is not None and result.reason.startswith(
        "RuntimeError: out of patience (traceback: "
    )
    trace = Path(result.reason.split("(traceback: ")[1].rstrip(")"))
    assert "out of patience" in trace.read_text() and "Traceback" in trace.read_text()
    assert result.run_id == suite.runs[0].run_id and result.metrics == {}


def test_finished_runs_are_skipped_and_force_reruns(
    suite: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executed: list[str] = []

    def fake_run(run: Any, on_update: Any = None) -> RunResult:
        executed.append(run.run_id)
        return fake_result(run.run_id, run.adapter.label, status="failed" if run.seed == 1 else "ok")

    base_calls: list[int] = []

    def fake_base(spec: Any) -> RunResult:
        base_calls.append(1)
        return RunResult(
            suite="unit", run_id="base", method="base", seed=None, status="ok", spec=spec.base_identity()
        )

    monkeypatch.setattr(execute, "execute_run", fake_run)
    monkeypatch.setattr(execute, "evaluate_base", fake_base)
    results = tmp_path / "results"

    first = run_suite(suite, results)
    assert executed == [r.run_id for r in suite.runs] and len(base_calls) == 1
    assert [r.status for r in first.ran] == ["ok", "failed"], "a failed run does not stop the suite"
    assert load_result(run_result_path(results, "unit", suite.runs[1].run_id)).status == "failed"

    executed.clear()
    second = run_suite(suite, results)
    assert executed == [suite.runs[1].run_id], "failed runs are retried"
    assert second.skipped == [suite.runs[0].run_id] and len(base_calls) == 1

    executed.clear()
    run_result_path(results, "unit", suite.runs[0].run_id).unlink()
    run_suite(suite, results)
    assert executed == [r.run_id for r in suite.runs], "the missing run and the failed one rerun"

    executed.clear()
    run_suite(suite, results, force=True)
    assert executed == [r.run_id for r in suite.runs] and len(base_calls) == 2


def test_a_trained_run_measures_geometry_against_w0_not_a_rewritten_base(
    suite: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Like PiSSA, the fake adapter rewrites the base in place (W0 - R) and its merge adds R back
    plus a rank-1 update: against W0 the update is rank 1, against the residual it would not be."""
    import torch

    from peft_rlvr_bench.reporting.results import RoleScore, TaskScore
    from peft_rlvr_bench.rlvr.train import Trained
    from tests.helpers.tiny_models import tiny_llama

    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))
    name = "model.layers.1.self_attn.o_proj.weight"
    generator = torch.Generator().manual_seed(0)
    residual = torch.randn(32, 32, generator=generator)
    update = torch.outer(torch.randn(32, generator=generator), torch.randn(32, generator=generator))

    class Residual:
        def merge(self, model: Any) -> Any:
            with torch.no_grad():
                model.get_parameter(name).add_(residual + update)
            return model

    def adapt(run: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        with torch.no_grad():
            model.get_parameter(name).sub_(residual)
        return Trained(model, Residual(), [], trainable=1, total=2, initial_adapter=None, train_config={})

    score = RoleScore.from_tasks({"add": TaskScore(accuracy=0.5, n=2)})
    monkeypatch.setattr("peft_rlvr_bench.models.load_base", lambda spec, device="cpu": (tiny_llama(0), None))
    monkeypatch.setattr("peft_rlvr_bench.rlvr.train.train_run", adapt)
    monkeypatch.setattr("peft_rlvr_bench.adapters.checkpoints.save_trained", lambda *args, **kwargs: None)
    monkeypatch.setattr(
        "peft_rlvr_bench.evaluation.final.evaluate_in_depth",
        lambda *args, **kwargs: ({"in_domain": score}, None),
    )

    result = execute.execute_run(suite.runs[0])
    assert result.status == "ok", result.reason
    assert result.geometry is not None and "tensors" not in result.geometry
    o_proj = result.geometry["by_layer_type"]["o_proj"]
    assert o_proj["means"]["top1_energy_share"] == pytest.approx(1.0, abs=1e-9)
    assert o_proj["means"]["update_effective_rank"] == pytest.approx(1.0, abs=1e-6)
    assert result.geometry["by_layer_type"]["q_proj"]["update_sparsity"] == 1.0
    assert result.geometry["params"]["ks"] == [16, 64]
    assert 0 <= result.timings["geometry"] < result.timings["total"]
    assert result.samples == [], "the (faked) evaluation's answers travel with the result to its writer"
    # The JSON holds everything else; the answers go to the samples sidecar.
    assert RunResult.model_validate_json(result.model_dump_json()) == result.model_copy(
        update={"samples": None}
    )


def answered(run_id: str, attempt: int) -> list[ItemSample]:
    return [
        ItemSample(task="add", index=0, prompt="1+1=", target="2", response=f"{run_id}#{attempt}", score=0.0)
    ]


def test_the_runner_rewrites_a_runs_sidecar_and_leaderboards_read_only_run_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from peft_rlvr_bench.reporting.leaderboard import load_suite_results
    from peft_rlvr_bench.runner import execute, run_suite

    suite = load_short_eval_suite(tmp_path)
    attempts: dict[str, int] = {}
    failing: set[str] = set()

    def fake_run(run: Any, on_update: Any = None) -> RunResult:
        attempts[run.run_id] = attempts.get(run.run_id, 0) + 1
        failed = run.run_id in failing
        return RunResult(
            suite="unit",
            run_id=run.run_id,
            method="full",
            seed=run.seed,
            status="failed" if failed else "ok",
            spec={},
            samples=None if failed else answered(run.run_id, attempts[run.run_id]),
        )

    def fake_base(spec: Any) -> RunResult:
        return RunResult(
            suite="unit",
            run_id="base",
            method="base",
            seed=None,
            status="ok",
            spec=spec.base_identity(),
            samples=answered("base", 1),
        )

    monkeypatch.setattr(execute, "execute_run", fake_run)
    monkeypatch.setattr(execute, "evaluate_base", fake_base)
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))
    results = tmp_path / "results"
    first, second = (run.run_id for run in suite.runs)

    outcome = run_suite(suite, results)
    assert all(result.samples is None for result in outcome.ran), "the answers stay on disk"
    assert read_samples(samples_path(results, "unit", "base")) == answered("base", 1)
    for run_id in (first, second):
        assert read_samples(samples_path(results, "unit", run_id)) == answered(run_id, 1)
        assert "samples" not in json.loads(run_result_path(results, "unit", run_id).read_text())

    failing.add(second)
    run_suite(suite, results, force=True)
    assert read_samples(samples_path(results, "unit", first)) == answered(first, 2), "rerun, rewritten"
    assert not samples_path(results, "unit", second).exists(), "a failed rerun leaves no stale answers"

    run_result_path(results, "unit", first).unlink()  # a deleted run: its sidecar stays behind
    _, runs = load_suite_results(results / "unit")
    assert [run.run_id for run in runs] == [second]
    run_suite(suite, results)
    assert read_samples(samples_path(results, "unit", first)) == answered(first, 3)
