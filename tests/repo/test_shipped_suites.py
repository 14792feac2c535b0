"""Every shipped suite (suites/*.yaml) validates, with the adapters and recipes it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_rlvr_bench.suite import load_suite, with_choice
from tests.helpers.paths import REPO

SHIPPED = sorted((REPO / "suites").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_suite_validates(path: Path) -> None:
    from peft_rlvr_bench.registry import ADAPTERS, RECIPES

    suite = load_suite(path)
    if suite.awaits_selection:  # the comparison runs at chosen points; check it at each grid's first
        suite = with_choice(suite, {})
    assert suite.runs, "a shipped suite must expand to at least one run"
    assert suite.spec.name == path.stem, "the suite's name must match its file name"
    for run in suite.runs:  # the training path validates the resolved parameters again
        ADAPTERS.get(run.adapter.name).Params.model_validate(run.adapter.params)
        RECIPES.get(run.recipe.name).Params.model_validate(run.recipe.params)
