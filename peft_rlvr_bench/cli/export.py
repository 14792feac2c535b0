"""Commands that take results and tasks elsewhere: ``export`` (a tidy table) and ``export-tasks``
(stock lm-eval task YAMLs and their data)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from peft_rlvr_bench.cli.app import ResultsDir, SuitesDir, app, suite_and_current_runs, user_errors_exit_2
from peft_rlvr_bench.errors import UserError


@app.command()
@user_errors_exit_2
def export(
    suite: Annotated[str, typer.Argument(help="suite name or YAML path")],
    results_dir: ResultsDir = Path("results"),
    suites_dir: SuitesDir = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="file to write: .parquet or .csv (default results/<suite>/results.parquet, or "
            ".csv without pyarrow)",
        ),
    ] = None,
) -> None:
    """Write one tidy table of a suite's results: one row per run, task and metric."""
    from peft_rlvr_bench.reporting.export import default_export_name, tidy_rows, write_tidy
    from peft_rlvr_bench.reporting.leaderboard import load_suite_results

    name, current = suite_and_current_runs(suite, suites_dir)
    suite_dir = results_dir / name
    if out is not None and out.suffix not in (".parquet", ".csv"):
        raise UserError(f"--out {out}: name a .parquet or .csv file, e.g. --out {name}.parquet")
    if out is not None and out.suffix == ".parquet":
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise UserError(
                f"--out {out}: Parquet needs pyarrow (pip install pyarrow); or use .csv"
            ) from None
    base, runs = load_suite_results(suite_dir)
    if base is None and not runs:
        raise UserError(f"no results under {suite_dir}; run `prb run {name}` first")
    kept = [r for r in runs if current is None or r.run_id in current]
    rows = tidy_rows([*([base] if base is not None else []), *kept])
    path = write_tidy(rows, out or default_export_name(suite_dir))
    print(f"wrote {path} ({len(rows)} rows, {len(kept)} runs{' + base' if base else ''})", file=sys.stderr)


@app.command("export-tasks")
@user_errors_exit_2
def export_tasks(
    suite: Annotated[str, typer.Argument(help="suite name or YAML path")],
    out_dir: Annotated[Path, typer.Argument(help="folder for the task YAMLs and their data")],
    suites_dir: SuitesDir = None,
) -> None:
    """Write the suite's evaluation tasks as stock lm-eval task YAMLs with their data, for
    `lm_eval --include_path OUT_DIR --tasks ...` on a saved run."""
    from peft_rlvr_bench.evaluation.export_tasks import export_tasks as write_tasks
    from peft_rlvr_bench.suite import load_suite, resolve_suite_path

    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: is a file; give a folder for the task YAMLs")
    loaded = load_suite(resolve_suite_path(suite, suites_dir))
    names = write_tasks(loaded, out_dir)
    print(f"wrote {len(names)} lm-eval task(s) to {out_dir}: {', '.join(names)}", file=sys.stderr)
    print(
        f"lm_eval --include_path {out_dir} --tasks {','.join(names)} "
        "--model hf --model_args pretrained=RUN/final"
    )
