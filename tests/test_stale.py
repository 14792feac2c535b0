"""Results made under another world or other package versions are stale: rerun, never tabulated
with the rest. Another CPU alone is kept, with a note. What every result records."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from peft_rlvr_bench.environment import (
    Environment,
    Hardware,
    LockState,
    Stamp,
    cpu_change,
    differences,
    lock_deviations,
    parse_lock,
)
from peft_rlvr_bench.reporting.leaderboard import load_leaderboard, write_leaderboard
from peft_rlvr_bench.reporting.results import (
    RunResult,
    base_result_path,
    load_result,
    run_result_path,
    save_result,
)
from peft_rlvr_bench.runner import execute, provenance, run_suite
from peft_rlvr_bench.suite import ModelSpec, load_suite
from tests.hand_results import result as hand_result

REPO = Path(__file__).resolve().parents[1]
VERSIONS = {
    "python": "3.11.7",
    "torch": "2.13.0+cpu",
    "transformers": "5.24.0",
    "trl": "1.16.0",
    "peft_rlvr_bench": "0.1.0",
}
HASH_A, HASH_B = "a" * 64, "b" * 64

SUITE = """\
name: unit
train_task: add
eval: {in_domain: [add]}
recipe: {name: grpo}
budget: {max_steps: 2}
seeds: [0, 1, 2]
adapters:
  - {name: full, lr: 1.0e-4}
"""


def env(world: str = HASH_A, cpu: str = "Intel(R) Xeon(R) Processor", lock: str = "c" * 64) -> Environment:
    return Environment(
        world={"model": "tiny", "artifact": "tiny-v1", "recipe_key": "k", "hash": world},
        lock=LockState(file="requirements/cpu.txt", sha256=lock),
        hardware=Hardware(cpu=cpu, cpu_count=2, torch_threads=2),
    )


PRESENT = Stamp(VERSIONS, env())


def stamped(result: RunResult, versions: dict[str, str] = VERSIONS, **kwargs: Any) -> RunResult:
    return result.model_copy(update={"versions": versions, "environment": env(**kwargs)})


def test_differences_name_world_versions_and_lock_but_not_the_cpu() -> None:
    same = Stamp(VERSIONS, env(cpu="AMD EPYC 9B14"))
    assert differences(same, PRESENT) == []
    assert cpu_change(same, PRESENT) == "AMD EPYC 9B14 -> Intel(R) Xeon(R) Processor"
    older = {**VERSIONS, "transformers": "5.23.0", "python": "3.11.9", "peft_rlvr_bench": "0.0.9"}
    assert differences(Stamp(older, env(world=HASH_B, lock="d" * 64)), PRESENT) == [
        "world hash bbbbbbbbbbbb -> aaaaaaaaaaaa",
        "transformers 5.23.0 -> 5.24.0",
        "lock dddddddddddd -> cccccccccccc",
    ]
    # A result written before environments were recorded is judged on its versions alone.
    assert differences(Stamp(VERSIONS, None), PRESENT) == []
    assert differences(Stamp(older, None), PRESENT) == ["transformers 5.23.0 -> 5.24.0"]
    assert cpu_change(Stamp(VERSIONS, None), PRESENT) is None


def test_lock_deviations_follow_pips_equality() -> None:
    pins = parse_lock(
        "# header\ntorch==2.13.0\nTyping_Extensions==4.15.0 ; python_version < '4'\nnumpy==2.3.0\n"
    )
    assert pins == {"torch": "2.13.0", "typing-extensions": "4.15.0", "numpy": "2.3.0"}
    installed = {"torch": "2.13.0+cpu", "typing-extensions": "4.15.0", "numpy": "2.3.1"}
    assert lock_deviations(pins, installed) == {"numpy": "installed 2.3.1, lock 2.3.0"}
    assert lock_deviations(pins, {"torch": "2.13.0+cu128"}) == {}, "a package another platform lacks is fine"


@pytest.fixture
def suite(tmp_path: Path) -> Any:
    path = tmp_path / "unit.yaml"
    path.write_text(SUITE)
    return load_suite(path)


def fake(run: Any) -> RunResult:
    return RunResult(
        suite="unit", run_id=run.run_id, method=run.adapter.label, seed=run.seed, status="ok", spec={}
    )


def test_prb_run_reruns_stale_results_says_so_and_keeps_those_from_another_cpu(
    suite: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))  # run locks live there
    results = tmp_path / "results"
    base = RunResult(
        suite="unit", run_id="base", method="base", seed=None, status="ok", spec=suite.spec.base_identity()
    )
    save_result(stamped(base), base_result_path(results, "unit"))
    other_world, other_cpu, other_versions = suite.runs
    save_result(
        stamped(fake(other_world), world=HASH_B), run_result_path(results, "unit", other_world.run_id)
    )
    save_result(
        stamped(fake(other_cpu), cpu="AMD EPYC 9B14"), run_result_path(results, "unit", other_cpu.run_id)
    )
    old = {**VERSIONS, "trl": "1.15.0"}
    save_result(
        stamped(fake(other_versions), versions=old), run_result_path(results, "unit", other_versions.run_id)
    )

    executed: list[str] = []
    base_calls: list[int] = []

    def fake_run(run: Any, on_update: Any = None) -> RunResult:
        executed.append(run.run_id)
        return stamped(fake(run))

    def fake_base(spec: Any) -> RunResult:
        base_calls.append(1)
        return stamped(base)

    monkeypatch.setattr(provenance, "present_stamp", lambda model: PRESENT)
    monkeypatch.setattr(execute, "execute_run", fake_run)
    monkeypatch.setattr(execute, "evaluate_base", fake_base)
    output = io.StringIO()
    outcome = run_suite(suite, results, console=Console(file=output, width=1000))

    assert executed == [other_world.run_id, other_versions.run_id], "the CPU alone does not make it stale"
    assert outcome.skipped == [other_cpu.run_id]
    assert base_calls == [], "the base was made in this environment"
    lines = output.getvalue().splitlines()
    assert [line for line in lines if "stale" in line] == [
        "unit: 2 result(s) made under another world or package versions "
        "(world hash bbbbbbbbbbbb -> aaaaaaaaaaaa; trl 1.15.0 -> 1.16.0): stale, will be rerun"
    ]
    note = "unit: note: kept results were made on another CPU (AMD EPYC 9B14 -> Intel(R) Xeon(R) Processor)"
    assert any(line.startswith(note) for line in lines)
    assert not any("stale" in line for line in _rerun_output(suite, results)), "rerun results are current"


def _rerun_output(suite: Any, results: Path) -> list[str]:
    output = io.StringIO()
    run_suite(suite, results, console=Console(file=output, width=1000))
    return output.getvalue().splitlines()


def test_plan_marks_the_base_stale_when_its_versions_differ(suite: Any, tmp_path: Path) -> None:
    from peft_rlvr_bench.runner.plan import plan_notes, plan_suite

    results = tmp_path / "results"
    base = RunResult(
        suite="unit", run_id="base", method="base", seed=None, status="ok", spec=suite.spec.base_identity()
    )
    save_result(stamped(base, versions={**VERSIONS, "torch": "2.12.0"}), base_result_path(results, "unit"))
    for run in suite.runs:
        save_result(stamped(fake(run)), run_result_path(results, "unit", run.run_id))
    plan = plan_suite(suite, results, present=PRESENT)
    assert plan.base and plan.work == [] and plan.stale == {"base": ["torch 2.12.0 -> 2.13.0+cpu"]}
    assert plan_notes("unit", plan) == [
        "3 finished run(s) skipped; --force reruns them",
        "unit: the base evaluation made under another world or package versions "
        "(torch 2.12.0 -> 2.13.0+cpu): stale, will be rerun",
    ]
    assert not plan_suite(suite, results, force=True, present=PRESENT).stale, "--force reruns all anyway"


def test_the_leaderboard_tabulates_only_results_of_the_bases_environment(tmp_path: Path) -> None:
    suite_dir = tmp_path / "hand"
    save_result(stamped(hand_result("base", None, 0.25, 0.3, 0.8, lr=None)), suite_dir / "base.json")
    runs = [
        stamped(hand_result("lora", 0, 0.5, 0.4, 0.78)),
        stamped(hand_result("lora", 1, 0.9, 0.4, 0.78), world=HASH_B),
        stamped(hand_result("lora", 2, 0.7, 0.4, 0.78), cpu="AMD EPYC 9B14"),
        stamped(hand_result("full", 0, 0.6, 0.4, 0.78), versions={**VERSIONS, "transformers": "5.0.0"}),
    ]
    for run in runs:
        save_result(run, suite_dir / "runs" / f"{run.run_id}.json")
    board, kept = load_leaderboard(suite_dir, "hand")
    assert sorted(r.run_id for r in kept) == ["lora-s0", "lora-s2"]
    assert [row.method for row in board.rows] == ["base", "lora"]
    lora = board.rows[1]
    assert lora.n_seeds == 2 and lora.value("in_domain") == pytest.approx(0.6)
    assert board.other_environment == (
        ("full-s0", "transformers 5.0.0 -> 5.24.0"),
        ("lora-s1", "world hash bbbbbbbbbbbb -> aaaaaaaaaaaa"),
    )
    markdown = write_leaderboard(suite_dir, "hand").markdown.read_text()
    assert "- `lora-s1`: world hash bbbbbbbbbbbb -> aaaaaaaaaaaa" in markdown


def test_results_written_before_environments_still_load() -> None:
    legacy = load_result(REPO / "tests" / "fixtures" / "legacy_result_before_depth_fields.json")
    assert legacy.environment is None
    committed = load_result(REPO / "results" / "tiny" / "base.json")
    assert committed.versions["transformers"]


def test_a_result_records_world_lock_and_hardware() -> None:
    import torch

    recorded = provenance.environment(ModelSpec(name="tiny"))
    assert recorded.world["artifact"] and len(recorded.world["hash"]) == 64
    assert recorded.lock is not None and recorded.lock.file == "requirements/cpu.txt"
    hardware = recorded.hardware
    assert hardware.cpu and hardware.cpu_count and hardware.torch_threads == torch.get_num_threads()
    assert (hardware.gpu_count, hardware.gpu is None) == (
        torch.cuda.device_count(),
        not torch.cuda.is_available(),
    )
