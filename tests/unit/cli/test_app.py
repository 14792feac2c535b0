"""The ``prb`` application: ``-h``, ``--version``, ``--backend`` as a choice, flags checked before
a dry run returns, ``--suites-dir``; each bad input one line and exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from peft_rlvr_bench.cli import run_cli
from tests.helpers.suites import GOOD, write


def test_h_is_help_and_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    assert run_cli(["-h"]) == 0
    assert "Usage: prb" in capsys.readouterr().out
    assert run_cli(["run", "-h"]) == 0
    assert "--backend" in capsys.readouterr().out
    assert run_cli(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"prb (peft_rlvr_bench) {version('peft_rlvr_bench')}"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--backend", "rey"], "'rey' is not one of 'local', 'ray'"),
        (["--results-dir", "FILE"], "is a file, not a directory"),
        (["--address", "auto"], "add --backend ray"),
        (["--cpus-per-run", "0"], "must be above 0"),
    ],
)
def test_a_dry_run_checks_every_flag_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    suite = write(tmp_path, GOOD)
    (tmp_path / "FILE").write_text("x")
    flags = [str(tmp_path / "FILE") if flag == "FILE" else flag for flag in flags]
    code = run_cli(["run", str(suite), "--dry-run", *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_suites_dir_overrides_where_names_are_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, GOOD, name="mine.yaml")
    assert run_cli(["list", "suites", "--suites-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "suites: mine"
    assert run_cli(["run", "nope", "--dry-run", "--suites-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not found in" in err and "known: mine" in err
    assert run_cli(["list", "suites", "--suites-dir", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err
