"""End to end through the real TRL GRPOTrainer and lm-eval: `prb run suites/smoke.yaml`."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from peft_rlvr_bench.reporting.results import load_result
from peft_rlvr_bench.suite import RunSpec
from tests.helpers.paths import REPO

pytestmark = pytest.mark.e2e
DERIVED = {"relex": "relex@2", "regrounding": "regrounding@1", "next": "next@2"}
"""Each extrapolation method of the smoke suite and its row suffix (method@observe)."""
UPDATES_USED = {"relex": 2, "regrounding": 2, "next": 3}
"""Real RL updates: relex observes 2; regrounding trains 1 + 1 around its jump; next observes 2, adds 1."""
METHODS = ["full", "lora"] + [f"{source}+{d}" for source in ("full", "lora") for d in DERIVED.values()]


def prb(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRB_OUTPUTS_DIR": str(tmp_path / "outputs")}
    return subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", *args, "--results-dir", str(tmp_path / "results")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("smoke")
    done = prb("run", "suites/smoke.yaml", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp_path


def test_every_run_is_ok_and_self_describing(smoke: Path) -> None:
    suite_dir = smoke / "results" / "smoke"
    base = load_result(suite_dir / "base.json")
    runs = [load_result(p) for p in sorted((suite_dir / "runs").glob("*.json"))]
    assert base.method == "base" and base.status == "ok"
    assert sorted(r.method for r in runs) == sorted(METHODS)
    for result in [base, *runs]:
        assert set(result.metrics) == {"in_domain", "out_of_domain", "forgetting"}
        for role in result.metrics.values():
            assert all(task.n == 32 for task in role.tasks.values())
            assert 0.0 <= role.score <= 1.0
    for run in runs:
        assert run.status == "ok", run.reason
        if run.extrapolation is not None:
            info = run.extrapolation
            assert info["updates_used"] == UPDATES_USED[info["method"]] and info["target"] == 3
            assert run.method == f"{info['source_method']}+{DERIVED[info['method']]}"
            source = load_result(suite_dir / "runs" / f"{info['source_run_id']}.json")
            assert info["real_at_target"] == source.metrics["in_domain"].score
            assert info["gap_at_target"] == pytest.approx(
                run.metrics["in_domain"].score - info["real_at_target"]
            )
            matched = info["updates_to_match"]
            assert matched is None or info["steps_saved"] == matched - info["updates_used"]
            continue
        assert [s.step for s in run.train_curve] == [1, 2, 3]
        assert all(s.reward_mean is not None and s.loss is not None for s in run.train_curve)
        assert all(s.kl is not None and s.kl >= 0 for s in run.train_curve), "beta > 0 logs KL"
        assert all(s.step_seconds and s.step_seconds > 0 for s in run.train_curve)
        assert run.timings["train"] > 0 and run.peak_memory_mb and run.peak_memory_mb > 0
        assert {"torch", "trl", "peft", "lm_eval", "transformers"} <= set(run.versions)
        assert "commit" in run.git and "dirty" in run.git
        assert run.spec["adapter"]["name"] == run.method and run.spec["seed"] == run.seed
        # What TRL was given: the part the run id covers, then the machine's settings.
        identity = RunSpec.model_validate(run.spec).identity()["train_config"]
        assert {key: run.train_config[key] for key in identity} == identity
        assert run.train_config["loss_type"] == "grpo" and run.train_config["use_cpu"] is True


def test_every_result_keeps_per_item_scores_and_its_answers(smoke: Path) -> None:
    from peft_rlvr_bench.reporting.samples import read_samples

    suite_dir = smoke / "results" / "smoke"
    paths = [suite_dir / "base.json", *sorted((suite_dir / "runs").glob("*.json"))]
    digests: dict[str, set[str | None]] = {}
    for path in paths:
        result = load_result(path)
        run_id = "base" if path.name == "base.json" else path.stem
        lines = read_samples(suite_dir / "samples" / f"{run_id}.jsonl.gz")
        tasks = {name: task for role in result.metrics.values() for name, task in role.tasks.items()}
        assert len(lines) == 32 * len(tasks), run_id
        for name, task in tasks.items():
            assert task.items is not None and task.accuracy == sum(task.items) / len(task.items)
            assert [line.score for line in lines if line.task == name] == task.items, (run_id, name)
            digests.setdefault(name, set()).add(task.items_digest)
    assert all(len(found) == 1 and None not in found for found in digests.values()), (
        "the same items everywhere"
    )
    assert {p.name for p in (suite_dir / "samples").iterdir()} == {
        f"{'base' if p.name == 'base.json' else p.stem}.jsonl.gz" for p in paths
    }, "one sidecar per result (learning-curve points and validation write none)"


def test_learning_curves_start_at_the_base_and_end_at_the_final_score(smoke: Path) -> None:
    base = load_result(smoke / "results" / "smoke" / "base.json")
    for path in (smoke / "results" / "smoke" / "runs").glob("*.json"):
        run = load_result(path)
        if run.extrapolation is not None:
            continue
        assert [p.update for p in run.learning_curve] == [0, 1, 2, 3]
        # Update 0 is rebuilt from the trajectory as W0 exactly, so greedy decoding matches the base.
        assert run.learning_curve[0].in_domain == base.metrics["in_domain"].score
        assert run.learning_curve[-1].in_domain == run.metrics["in_domain"].score


def test_the_trajectory_rebuilds_the_saved_final_weights(smoke: Path) -> None:
    import torch

    from peft_rlvr_bench.adapters.checkpoints import load_trained
    from peft_rlvr_bench.extrapolation.from_trajectory import effective_state_at
    from peft_rlvr_bench.models import load_base, model_location
    from peft_rlvr_bench.suite import load_suite
    from peft_rlvr_bench.trajectory import Trajectory

    run_spec = load_suite(REPO / "suites" / "smoke.yaml").runs[1]  # lora
    run_dir = smoke / "outputs" / "smoke" / run_spec.run_id
    base = load_base(run_spec.model)[0]
    base_state = {name: p.detach().clone() for name, p in base.named_parameters()}
    rebuilt = effective_state_at(Trajectory(run_dir / "trajectory"), base_state, 3)
    saved = load_trained(model_location(run_spec.model), run_dir / "final").merge_and_unload()
    for name, parameter in saved.named_parameters():
        torch.testing.assert_close(rebuilt[name], parameter.detach(), atol=1e-6, rtol=1e-5)


def test_trainable_parameter_counts_follow_the_method(smoke: Path) -> None:
    runs = {r.method: r for r in map(load_result, (smoke / "results" / "smoke" / "runs").glob("*.json"))}
    assert runs["full+relex@2"].trainable_params == 0, "a derived run has no trainable parameters of its own"
    full, lora = runs["full"], runs["lora"]
    assert full.trainable_params == full.total_params
    # LoRA r=4 on the 7 linear layers of each of the 4 blocks (hidden 128, MLP 256):
    # q,k,v,o: r*(128+128) each; gate, up: r*(128+256); down: r*(256+128).
    per_block = 4 * 4 * 256 + 3 * 4 * 384
    assert lora.trainable_params == 4 * per_block
    assert lora.total_params == full.total_params + lora.trainable_params


def test_leaderboard_has_base_and_one_row_per_method(smoke: Path) -> None:
    suite_dir = smoke / "results" / "smoke"
    with (suite_dir / "leaderboard.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    methods = [r["method"] for r in rows]
    assert methods[0] == "base" and sorted(methods[1:]) == sorted(METHODS)
    for source in ("full", "lora"):
        following = methods[methods.index(source) + 1 : methods.index(source) + 1 + len(DERIVED)]
        assert sorted(following) == sorted(f"{source}+{d}" for d in DERIVED.values()), "derived rows follow"
    assert "| base |" in (suite_dir / "leaderboard.md").read_text()


def test_rerun_skips_finished_runs_and_changes_nothing(smoke: Path) -> None:
    runs_dir = smoke / "results" / "smoke" / "runs"
    samples_dir = runs_dir.parent / "samples"

    def files() -> dict[str, bytes]:
        written = [*runs_dir.glob("*.json"), runs_dir.parent / "base.json", *samples_dir.iterdir()]
        return {p.name: p.read_bytes() for p in written}

    before = files()
    done = prb("run", "suites/smoke.yaml", tmp_path=smoke)
    assert done.returncode == 0
    assert "2 finished run(s) skipped" in done.stderr
    assert files() == before
