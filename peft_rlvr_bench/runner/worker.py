"""The process ``accelerate launch`` starts, once per rank: executes ONE run and, on rank 0, writes
its result file.

    python -m accelerate.commands.launch --config_file CFG --num_processes N \\
        -m peft_rlvr_bench.runner.worker --spec RUN.json --results-dir results --strategy ddp

Every rank trains (the trainer synchronises them); rank 0 alone saves the checkpoint, records the
trajectory and evaluates (``runner.execute``), then writes ``results/<suite>/runs/<run_id>.json``
after its samples sidecar (``reporting.samples``).
A rank other than 0 whose run failed exits non-zero, so torchrun stops the job instead of leaving
rank 0 waiting on a collective that never comes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peft_rlvr_bench.runner.worker", description=__doc__)
    parser.add_argument("--spec", type=Path, required=True, help="the run's resolved RunSpec as JSON")
    parser.add_argument("--results-dir", type=Path, required=True, help="where results/<suite>/ lives")
    parser.add_argument("--strategy", default="ddp", help="the launch strategy, recorded in the result")
    args = parser.parse_args(argv)

    from peft_rlvr_bench.console import quiet_libraries

    quiet_libraries()
    from peft_rlvr_bench.distributed import is_main_process, rank, world_size
    from peft_rlvr_bench.reporting.results import run_result_path
    from peft_rlvr_bench.reporting.samples import samples_path, save_result_and_samples
    from peft_rlvr_bench.runner.execute import execute_run
    from peft_rlvr_bench.suite import RunSpec

    run = RunSpec.model_validate_json(args.spec.read_text())
    result = execute_run(run)
    if not is_main_process():
        if result.status == "failed":
            print(f"rank {rank()}: {result.reason}", file=sys.stderr)
            return 1
        return 0
    result = result.model_copy(update={"launch": {"strategy": args.strategy, "world_size": world_size()}})
    path = run_result_path(args.results_dir, run.suite, run.run_id)
    save_result_and_samples(result, path, samples_path(args.results_dir, run.suite, run.run_id))
    print(f"wrote {path} ({result.status})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
