"""`--set PATH=VALUE` overrides: nested fields, lists, new sections, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.overrides import apply_overrides
from peft_rlvr_bench.suite import load_suite
from tests.helpers.paths import REPO

MATH = REPO / "suites" / "math-1.5b.yaml"


def prb(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "peft_rlvr_bench.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_overrides_set_nested_fields_lists_and_new_sections() -> None:
    data = {"model": {"name": "x"}, "eval": {"n_items": 500}, "adapters": [{"name": "lora", "lr": 1e-3}]}
    out = apply_overrides(
        data,
        [
            "model.path=/tmp/m",
            "eval.n_items=8",
            "adapters.0.lr=2e-4",
            "seeds=[0]",
            "data.sources.math500.path=/data/m.jsonl",
            "adapters=[{name: lora, lr: 1.0e-3}, {name: pissa, lr: 1.0e-4}]",
        ],
    )
    assert out["model"] == {"name": "x", "path": "/tmp/m"} and out["eval"]["n_items"] == 8
    assert out["seeds"] == [0] and out["data"]["sources"]["math500"]["path"] == "/data/m.jsonl"
    assert [a["name"] for a in out["adapters"]] == ["lora", "pissa"]
    assert data["eval"]["n_items"] == 500, "the loaded mapping is not modified"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("eval.n_items.x=3", "--set eval.n_items.x=3: eval.n_items is a value (500), not a mapping"),
        ("adapters.7.lr=1", "--set adapters.7.lr=1: adapters is a list of 5; use an index 0..4"),
        ("novalue", "write PATH=VALUE"),
        ("modle.path=/x", "--set modle.path=/x: modle: unknown field (did you mean 'model'?)"),
        ("eval.n_items=-3", "--set eval.n_items=-3: eval.n_items"),
    ],
)
def test_bad_overrides_are_one_line_with_exit_code_2(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        load_suite(MATH, ["eval.n_items=500", override] if "n_items.x" in override else [override])
    assert message in str(caught.value) and "\n" not in str(caught.value)
    done = prb("validate", str(MATH), "--set", override)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_overrides_apply_before_validation_and_change_the_runs() -> None:
    suite = load_suite(MATH, ["eval.n_items=8", "seeds=[0]", "budget.max_steps=2", "extrapolation=[]"])
    assert len(suite.runs) == 5 and not suite.derived
    assert all(run.eval.n_items == 8 and run.budget.max_steps == 2 for run in suite.runs)
