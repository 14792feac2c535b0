"""Before any heavy work: results and outputs folders writable, names within the file system's limit."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.preflight import TEMP_OVERHEAD, check_names, check_writable, name_max
from tests.helpers.suites import tiny_suite


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc refuses new files on Linux only")
def test_a_folder_nobody_can_write_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    # /proc refuses new files even to root, who may write a chmod 555 folder.
    with pytest.raises(UserError, match=r"--results-dir /proc/prb/x: /proc is not writable by this user"):
        check_writable({"--results-dir": Path("/proc/prb/x")})
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(UserError, match="is a file, not a directory"):
        check_writable({"$PRB_OUTPUTS_DIR": tmp_path / "a-file" / "outputs"})
    check_writable({"--results-dir": tmp_path / "new" / "results"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"], "the write check leaves nothing"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes a read-only folder")
def test_a_read_only_folder_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(UserError, match="not writable"):
        check_writable({"--results-dir": locked / "results"})


def test_a_run_id_is_checked_against_the_limit_with_room_for_its_temporary_file(tmp_path: Path) -> None:
    limit = name_max(tmp_path)
    suite = tiny_suite(tmp_path, ["{name: lora, r: 2, lr: 1.0e-3, label: LABEL}"])
    run_id = suite.runs[0].run_id
    fits = "l" * (limit - TEMP_OVERHEAD - (len(run_id) - len("LABEL")))
    check_names(tiny_suite(tmp_path, [f"{{name: lora, r: 2, lr: 1.0e-3, label: {fits}}}"]), {"r": tmp_path})
    too_long = tiny_suite(tmp_path, [f"{{name: lora, r: 2, lr: 1.0e-3, label: {fits}l}}"])
    with pytest.raises(UserError, match=r"adapters\.0\.label: makes run id .* shorten the label"):
        check_names(too_long, {"r": tmp_path})
