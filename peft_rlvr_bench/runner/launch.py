"""One run across several processes: ``accelerate launch`` of the worker, which trains on every
process and writes the result from rank 0; the parent waits and reads the result file.

The command is an argument list (never a shell string). The run travels as its resolved spec in a
JSON file, so the worker runs exactly the parent's RunSpec, whatever edits the suite file saw.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.paths import run_dir
from peft_rlvr_bench.reporting.results import RunResult, load_result, run_result_path
from peft_rlvr_bench.reporting.samples import samples_path, save_result_and_samples
from peft_rlvr_bench.suite import LaunchSpec, RunSpec

CONFIGS = Path(__file__).parent / "accelerate_configs"
"""Accelerate config files, one per strategy (``cpu.yaml``: gloo processes on a CPU machine)."""

LOG_TAIL_CHARS = 2000


def accelerate_config(strategy: str, cuda: bool) -> Path:
    """The shipped accelerate config of ``strategy``; without GPUs only ``ddp`` runs (on gloo)."""
    if not cuda:
        if strategy != "ddp":
            raise UserError(
                f"launch.strategy {strategy!r} needs GPUs and this machine has none; "
                "use strategy ddp to train across CPU processes"
            )
        return CONFIGS / "cpu.yaml"
    return CONFIGS / f"{strategy}.yaml"


def launch_command(spec_file: Path, results_root: Path, launch: LaunchSpec, cuda: bool) -> list[str]:
    """``accelerate launch --config_file CFG --num_processes N -m peft_rlvr_bench.runner.worker ...``,
    through this interpreter so the worker runs in the same environment."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(accelerate_config(launch.strategy, cuda)),
        "--num_processes",
        str(launch.processes),
        "--main_process_port",
        "0",  # a free port: several launched runs may share a machine (Ray)
        "-m",
        "peft_rlvr_bench.runner.worker",
        "--spec",
        str(spec_file),
        "--results-dir",
        str(results_root),
        "--strategy",
        launch.strategy,
    ]


def run_launched(run: RunSpec, launch: LaunchSpec, results_root: Path) -> RunResult:
    """Trains ``run`` across ``launch.processes`` processes and returns the result its rank 0 wrote.

    The launcher's output goes to ``<run dir>/launch.log``. When the job ends without writing a
    result (a process crashed or was killed), the parent writes a ``failed`` one naming the log.
    """
    import torch

    from peft_rlvr_bench.runner.execute import failed_result

    directory = run_dir(run.suite, run.run_id)
    directory.mkdir(parents=True, exist_ok=True)
    spec_file = directory / "launch_spec.json"
    spec_file.write_text(run.model_dump_json(indent=1))
    command = launch_command(spec_file.resolve(), results_root.resolve(), launch, torch.cuda.is_available())
    path = run_result_path(results_root, run.suite, run.run_id)
    log = directory / "launch.log"
    started = time.time()
    with log.open("w") as handle:
        done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, check=False)
    if path.exists() and path.stat().st_mtime >= started:
        return load_result(path)
    tail = log.read_text(errors="replace")[-LOG_TAIL_CHARS:].strip().splitlines()
    reason = f"accelerate launch exited with code {done.returncode} without a result (log: {log})"
    if tail:
        reason += f"; last line: {tail[-1][:300]}"
    return save_result_and_samples(
        failed_result(run, reason), path, samples_path(results_root, run.suite, run.run_id)
    )
