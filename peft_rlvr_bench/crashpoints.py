"""Test-only crash points: prove that rerunning a killed suite completes it.

``PRB_TEST_KILL_AT=<pattern>`` makes the process SIGKILL itself at the first crash point whose
phase matches the (fnmatch) pattern: ``train:3`` after update 3, ``evaluate`` when evaluation of
a trained run starts, ``write:<file name>`` while a result file is half written (its temporary
file complete, not yet renamed). Unset, as it always is outside the tests, a crash point costs
one environment lookup.
"""

from __future__ import annotations

import fnmatch
import os
import signal

KILL_AT = "PRB_TEST_KILL_AT"


def crash_point(phase: str) -> None:
    """SIGKILLs this process when ``$PRB_TEST_KILL_AT`` matches ``phase`` (tests only)."""
    pattern = os.environ.get(KILL_AT)
    if pattern and fnmatch.fnmatchcase(phase, pattern):
        os.kill(os.getpid(), signal.SIGKILL)
