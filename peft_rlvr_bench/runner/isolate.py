"""Each run in a process of its own: the worker (``runner/worker.py``) started directly, without
``accelerate launch``, for one trained run, one derived run or the base evaluation.

Why: a GPU process keeps what a run leaves behind. TRL's colocated vLLM uses vLLM's external
launcher, which turns vLLM's engine multiprocessing off for the rest of the process, so every
later engine (evaluation, the next run's rollouts) runs in-process, and an in-process engine does
not give its GPU memory back when deleted. TRL also writes ``RANK``/``LOCAL_RANK``/``MASTER_*``
into the environment, so a later run of the same process trains under a one-process DDP. A child
process per run starts clean and hands everything back when it exits; its peak GPU memory is its
own. On a CUDA machine this is the default; on a CPU it is selectable (``launch: {isolate: true}``)
and off by default: the tiny world's runs take seconds, and a child's start-up (imports) would
cost more than the run.

The child prints ``PROGRESS update N`` lines that the parent turns into ``on_update`` calls; all
other output goes to ``<run dir>/run.log``. A child that ends without a result file (killed, out
of memory) leaves a ``failed`` result naming the log.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from peft_rlvr_bench.suite import LaunchSpec

Kind = Literal["run", "derived", "base"]
PROGRESS = "PROGRESS update "
"""The prefix of a child's progress lines on its stdout."""
LOG_TAIL_CHARS = 2000


def isolation_wanted(launch: LaunchSpec | None) -> bool:
    """Whether each run gets a process of its own: as the suite says, else on a CUDA machine."""
    if launch is not None and launch.isolate is not None:
        return launch.isolate
    import torch

    return torch.cuda.is_available()


def isolated_command(
    kind: Kind, spec_file: Path, results_root: Path, filed_under: str | None = None
) -> list[str]:
    """``python -m peft_rlvr_bench.runner.worker --kind KIND --spec F --results-dir R``, through this
    interpreter so the child runs in the same environment; ``--filed-under NAME`` files the result
    under ``R/NAME/`` instead of the run's own suite (a selection candidate, under its stage)."""
    return [
        sys.executable,
        "-m",
        "peft_rlvr_bench.runner.worker",
        "--kind",
        kind,
        "--spec",
        str(spec_file),
        "--results-dir",
        str(results_root),
        *(["--filed-under", filed_under] if filed_under else []),
    ]


def progress_line(step: int) -> str:
    return f"{PROGRESS}{step}"


def run_isolated(
    kind: Kind,
    spec_json: str,
    directory: Path,
    result_path: Path,
    results_root: Path,
    on_update: Callable[[int], None] | None = None,
) -> tuple[bool, str]:
    """Runs the worker on ``spec_json`` in a child process and waits for it; returns whether it
    wrote ``result_path`` and, when it did not, the reason (exit code and the log's last line)."""
    directory.mkdir(parents=True, exist_ok=True)
    spec_file = directory / f"{kind}_spec.json"
    spec_file.write_text(spec_json)
    # results/<suite>/runs/<id>.json: the folder the caller files this unit under
    filed_under = result_path.parent.parent.name if kind != "base" else None
    command = isolated_command(kind, spec_file.resolve(), results_root.resolve(), filed_under)
    log = directory / "run.log"
    started = time.time()
    with log.open("w") as handle:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(PROGRESS):
                if on_update is not None:
                    on_update(int(line[len(PROGRESS) :]))
            else:
                handle.write(line)
        code = child.wait()
    if result_path.exists() and result_path.stat().st_mtime >= started:
        return True, ""
    tail = log.read_text(errors="replace")[-LOG_TAIL_CHARS:].strip().splitlines()
    reason = f"the run's process exited with code {code} without a result (log: {log})"
    if tail:
        reason += f"; last line: {tail[-1][:300]}"
    return False, reason
