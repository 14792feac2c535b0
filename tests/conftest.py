"""Fixtures shared across test directories (shared plain code lives in ``tests/helpers/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.paths import FIXTURES


@pytest.fixture
def outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Scratch outputs under tmp_path; weight geometry (seconds of SVDs, tested elsewhere) skipped."""
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))
    monkeypatch.setattr("peft_rlvr_bench.geometry.model.run_geometry", lambda w0, merged: None)
    return tmp_path / "outputs"


@pytest.fixture(scope="module")
def world() -> tuple[Any, Any, Any]:
    """The committed tiny world under ``tests/fixtures/sampled-eval.yaml``: (suite spec, model, tokenizer)."""
    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.suite import load_suite

    spec = load_suite(FIXTURES / "sampled-eval.yaml").spec
    return spec, *load_base(spec.model)
