"""Stand-ins for a pool worker's unit (module level: spawned workers import them by name)."""

from __future__ import annotations

import os
import signal

from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.runner.execute import failed_result
from peft_rlvr_bench.runner.plan import Work
from peft_rlvr_bench.suite import Suite


def finish_or_die(suite: Suite, work: Work, results_root: str) -> RunResult:
    """Dies like an out-of-memory kill on the full run of seed 1; finishes any other unit at once
    (a ``failed`` result is the cheapest valid result to build)."""
    if work.run_id.startswith("full-s1-"):
        os.kill(os.getpid(), signal.SIGKILL)
    return failed_result(work.run, f"stand-in for {work.run_id}").model_copy(update={"status": "ok"})
