"""The page's details: per-task cells, run links, contended timings, provenance, the suite link."""

from __future__ import annotations

from pathlib import Path

from peft_rlvr_bench.environment import Environment, Hardware, timings_contended
from peft_rlvr_bench.reporting.details import contended_timings, provenance, run_links, task_breakdown
from peft_rlvr_bench.reporting.leaderboard import write_leaderboard
from tests.helpers import hand_results


def test_per_task_cells_follow_their_columns_definition() -> None:
    tasks = task_breakdown(hand_results.base(), hand_results.runs())
    lora = {(cell.role, cell.task): (round(cell.value, 6), cell.n_seeds) for cell in tasks["lora"]}
    # in-domain: mean accuracy; forgetting: base (0.8) minus tuned (0.78, 0.75, 0.72), as the column.
    assert lora[("in_domain", "task")] == (0.6, 3)
    assert lora[("forgetting", "task")] == (0.05, 3)
    assert "full" not in tasks, "a method without an ok run has no row"
    assert run_links(hand_results.base(), hand_results.runs())["pissa"] == (
        "runs/pissa-s0.json",
        "runs/pissa-s1.json",
    )


def test_timings_are_contended_when_the_load_exceeds_the_runs_threads() -> None:
    assert timings_contended(Hardware(torch_threads=2, load_average=2.4)) is False
    assert timings_contended(Hardware(torch_threads=2, load_average=3.1)) is True
    assert timings_contended(Hardware(torch_threads=2)) is None
    idle, busy = (
        Environment(world={}, hardware=Hardware(torch_threads=1, load_average=load)) for load in (1.0, 4.0)
    )
    runs = hand_results.seeded("lora", [0.5, 0.6]) + hand_results.seeded("dora", [0.5, 0.6])
    runs = [r.model_copy(update={"environment": idle if r.method == "lora" else busy}) for r in runs]
    assert contended_timings(runs) == {"dora": "2 of 2 runs timed on a busy machine"}


def test_provenance_names_commit_versions_hardware_and_dates() -> None:
    base = hand_results.base().model_copy(
        update={
            "git": {"commit": "0123456789abcdef", "dirty": True},
            "versions": {"torch": "2.13.0", "peft": "0.21.2"},
            "created_at": "2026-11-30T09:00:00+00:00",
            "environment": Environment(world={}, hardware=Hardware(cpu="Xeon", cpu_count=2)),
        }
    )
    lines = dict(provenance(base, []))
    assert lines == {
        "commit": "0123456789+dirty",
        "versions": "torch 2.13.0, peft 0.21.2",
        "hardware": "Xeon x2",
        "made": "2026-11-30 to 2026-11-30",
    }


def test_the_page_links_the_suite_file_relative_to_itself(tmp_path: Path) -> None:
    suite_dir = hand_results.write_suite(tmp_path / "results", hand_results.base(), hand_results.runs())
    suite_file = tmp_path / "suites" / "hand.yaml"
    suite_file.parent.mkdir()
    suite_file.write_text("name: hand\n")
    files = write_leaderboard(suite_dir, hand_results.SUITE, suite_file=suite_file)
    assert '<a href="../../suites/hand.yaml">' in files.html.read_text()
