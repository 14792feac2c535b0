"""The process that executes ONE unit of a suite and writes its result file: started once per
rank by ``accelerate launch`` for a run across processes (``runner/launch.py``), or directly for a
run in a process of its own (``runner/isolate.py``).

    python -m accelerate.commands.launch --config_file CFG --num_processes N \\
        -m peft_rlvr_bench.runner.worker --spec RUN.json --results-dir results --strategy ddp
    python -m peft_rlvr_bench.runner.worker --kind derived --spec DERIVED.json --results-dir results

``--kind`` is ``run`` (a RunSpec; the default), ``derived`` (a DerivedRun, whose source's and the
base's results are read as in-process) or ``base`` (the suite's SuiteSpec: its base evaluation).
Every rank trains (the trainer synchronises them); rank 0 alone saves the checkpoint, records the
trajectory and evaluates (``runner.execute``), then writes ``results/<suite>/runs/<run_id>.json``
after its samples sidecar (``reporting.samples``). With ``--kind`` given (a process of its own),
each optimizer update is printed as a ``PROGRESS update N`` line for the parent's progress bar.
A rank other than 0 whose run failed exits non-zero, so torchrun stops the job instead of leaving
rank 0 waiting on a collective that never comes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peft_rlvr_bench.runner.worker", description=__doc__)
    parser.add_argument("--spec", type=Path, required=True, help="the unit's resolved spec as JSON")
    parser.add_argument("--results-dir", type=Path, required=True, help="where results/<suite>/ lives")
    parser.add_argument("--strategy", default="ddp", help="the launch strategy, recorded in the result")
    parser.add_argument(
        "--filed-under", default=None, help="file the result under results/NAME/ (default: the run's suite)"
    )
    parser.add_argument(
        "--kind", choices=["run", "derived", "base"], default=None, help="a unit in a process of its own"
    )
    args = parser.parse_args(argv)

    from peft_rlvr_bench.console import quiet_libraries

    quiet_libraries()
    if args.kind is not None:
        return _isolated(args.kind, args.spec.read_text(), args.results_dir, args.filed_under)
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


def _isolated(kind: str, spec: str, results_root: Path, filed_under: str | None = None) -> int:
    """One unit in this process, as the in-process runner would run it (``runner.plan``)."""
    from peft_rlvr_bench.runner.isolate import progress_line
    from peft_rlvr_bench.runner.plan import run_unit, save_base
    from peft_rlvr_bench.suite import DerivedRun, RunSpec, SuiteSpec

    def on_update(step: int) -> None:
        print(progress_line(step), flush=True)

    if kind == "base":
        result = save_base(SuiteSpec.model_validate_json(spec), results_root)
    else:
        unit = (
            DerivedRun.model_validate_json(spec) if kind == "derived" else RunSpec.model_validate_json(spec)
        )
        result = run_unit(unit, results_root, on_update, filed_under=filed_under)
    print(f"wrote {result.run_id} ({result.status})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
