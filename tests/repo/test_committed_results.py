"""Committed results (results/<suite>/) are filed under the run ids their suites give today."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_rlvr_bench.suite import load_suite
from tests.helpers.paths import REPO

COMMITTED = sorted(p.parent for p in (REPO / "results").glob("*/base.json"))


@pytest.mark.parametrize("results", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_results_keep_their_run_ids_and_base_spec(results: Path) -> None:
    """Eval settings added later (sampling, kl_items, loss_items) stay out of the identity at their
    defaults, so every committed run file is still the file of a run of its suite, and the base
    evaluation is still current (not redone)."""
    from peft_rlvr_bench.reporting.results import load_result
    from peft_rlvr_bench.runner.selection import with_recorded_choice

    # A select: suite's comparison runs are those of its recorded choice (results/<suite>/selection/).
    suite = with_recorded_choice(load_suite(REPO / "suites" / f"{results.name}.yaml"), REPO / "results")
    ids = {run.run_id for run in suite.runs} | {derived.run_id for derived in suite.derived}
    committed = {path.stem for path in (results / "runs").glob("*.json")}
    assert committed and committed <= ids
    assert load_result(results / "base.json").spec == suite.spec.base_identity()
