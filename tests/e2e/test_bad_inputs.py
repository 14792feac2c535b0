"""The bad-input corpus (tests/fixtures/bad_inputs/cases.yaml) through the real `prb` CLI.

Every case: exit code 2, exactly one line on stderr naming where the problem is and containing
the case's expected fragment, nothing on stdout, no traceback, nothing written. Most cases run
in-process (``cli.run_cli``, the function ``prb`` calls); the ``subprocess`` ones in a real
``python -m peft_rlvr_bench.cli`` to prove the same through a process boundary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from peft_rlvr_bench.cli import run_cli
from tests.helpers.paths import REPO
from tests.helpers.tiny_models import tiny_llama

FIXTURES = REPO / "tests" / "fixtures" / "bad_inputs"
CASES: list[dict[str, Any]] = yaml.safe_load((FIXTURES / "cases.yaml").read_text())


def snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def ck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkpoint directories the CLI cases point at (see the header of cases.yaml)."""
    root = tmp_path_factory.mktemp("ck")
    for name, model in {
        "base": tiny_llama(0),
        "step-10": tiny_llama(1),
        "step-20": tiny_llama(2),
        "wider": tiny_llama(0, hidden_size=48),
    }.items():
        model.save_pretrained(root / name)
    (root / "empty").mkdir()
    (root / "pickle-only").mkdir()
    torch.save(tiny_llama(1).state_dict(), root / "pickle-only" / "pytorch_model.bin")
    (root / "pickle-only" / "config.json").write_text((root / "base" / "config.json").read_text())
    (root / "not-empty-out").mkdir()
    (root / "not-empty-out" / "keep.txt").write_text("kept")
    (root / "not-a-trajectory").mkdir()
    (root / "not-a-trajectory" / "manifest.json").write_text("{not json")
    (root / "a-file").write_text("a file, not a directory")
    weights = (root / "step-20" / "model.safetensors").read_bytes()
    for name, data in {
        "truncated": weights[: len(weights) // 2],
        "zero-bytes": b"",
        "garbage": b"\x07" * 999,
    }.items():
        shutil.copytree(root / "step-20", root / name)
        (root / name / "model.safetensors").write_bytes(data)
    (root / "bad-index").mkdir()
    (root / "bad-index" / "model.safetensors.index.json").write_text('{"weight_map": ')
    return root


def fill(value: str, ck: Path, tmp: Path) -> str:
    return value.replace("{fixtures}", str(FIXTURES)).replace("{ck}", str(ck)).replace("{tmp}", str(tmp))


def test_the_corpus_is_large_and_covers_every_kind_of_input() -> None:
    kinds = {case["case"].split(":")[0] for case in CASES}
    assert len(CASES) >= 40 and {"suite", "references", "cli", "extrapolate", "analyze"} <= kinds
    assert len({case["case"] for case in CASES}) == len(CASES), "case names are unique"
    named = {Path(case["file"]).name for case in CASES if "file" in case}
    assert named == {p.name for p in (FIXTURES / "suites").glob("*.yaml")}, "every fixture file is a case"


@pytest.mark.parametrize("case", CASES, ids=[case["case"] for case in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case: dict[str, Any],
    ck: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [fill(arg, ck, tmp_path) for arg in case["argv"]]
    before = snapshot(ck), snapshot(FIXTURES)
    env = {"PRB_OUTPUTS_DIR": str(tmp_path / "outputs")}
    env |= {key: fill(value, ck, tmp_path) for key, value in case.get("env", {}).items()}
    if case.get("subprocess"):
        done = subprocess.run(
            [sys.executable, "-m", "peft_rlvr_bench.cli", *argv],
            cwd=REPO,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        code, out, err = done.returncode, done.stdout, done.stderr
    else:
        monkeypatch.chdir(REPO)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        code = run_cli(argv)
        out, err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in err + out
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert fill(case["expect"], ck, tmp_path) in err, err
    if "file" in case:
        assert re.search(rf"{re.escape(fill(case['file'], ck, tmp_path))}(:\d+)?: ", err), "names the file"
    assert out == ""
    assert list(tmp_path.iterdir()) == [], "nothing written: no results, no outputs"
    assert (snapshot(ck), snapshot(FIXTURES)) == before
