"""Suite commands: validate, list, run, params, leaderboard, compare, claims, verify."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from peft_rlvr_bench.cli.app import (
    Backend,
    ResultsDir,
    SetOption,
    SuitesDir,
    app,
    suite_and_current_runs,
    suite_file_of,
    suite_name,
    user_errors_exit_2,
)
from peft_rlvr_bench.errors import UserError


@app.command()
@user_errors_exit_2
def validate(
    files: Annotated[list[Path], typer.Argument(help="suite YAML files")],
    overrides: SetOption = [],  # noqa: B006
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="also load the model's config and one row of every dataset split the suite reads (seconds)",
        ),
    ] = False,
) -> None:
    """Validate suite files without running anything."""
    from peft_rlvr_bench.paths import outputs_dir
    from peft_rlvr_bench.preflight import check_names
    from peft_rlvr_bench.suite import load_suite, with_choice
    from peft_rlvr_bench.suite.sweep import points as points_of

    failed = 0
    for path in files:
        suite = load_suite(path, overrides)
        # Against the default folders: a name too long there fails any run of this suite.
        check_names(suite, {"results": Path("results"), "outputs": outputs_dir()})
        problems = []
        if online:
            from peft_rlvr_bench.suite.online import online_problems

            problems = online_problems(suite)
        for problem in problems:
            print(problem, file=sys.stderr)
        failed += len(problems)
        if problems:
            continue
        where = ", online" if online else ""
        if suite.awaits_selection and suite.spec.select is not None:
            candidates = sum(len(points_of(sweep)) for sweep in suite.sweeps) * len(suite.spec.select.seeds)
            runs = len(with_choice(suite, {}).runs)
            print(f"ok: {path} (selection: {candidates} candidate runs, then {runs} runs{where})")
        else:
            print(f"ok: {path} ({len(suite.runs)} runs{where})")
    if failed:
        raise UserError(f"{failed} online check(s) failed (above)")


@app.command("list")
@user_errors_exit_2
def list_components(
    kind: Annotated[str, typer.Argument(help="adapters, recipes, tasks, verifiers, suites, or all")] = "all",
    suites_dir: SuitesDir = None,
) -> None:
    """List registered components (and shipped suites)."""
    from peft_rlvr_bench.registry import REGISTRIES, did_you_mean
    from peft_rlvr_bench.suite import known_suites

    kinds = [*REGISTRIES, "suites"]
    if kind != "all" and kind not in kinds:
        raise UserError(
            f"prb list: unknown kind {kind!r}{did_you_mean(kind, kinds)}; choose from {', '.join(kinds)}"
        )
    for name in kinds if kind == "all" else [kind]:
        if name in REGISTRIES:
            REGISTRIES[name].check_clashes()
        entries = (
            list(known_suites(suites_dir))
            if name == "suites"
            else REGISTRIES[name].names() + REGISTRIES[name].families()
        )
        print(f"{name}: {', '.join(entries)}")


@app.command()
@user_errors_exit_2
def run(
    suite: Annotated[str, typer.Argument(help="suite name (suites/NAME.yaml) or path")],
    force: Annotated[bool, typer.Option("--force", help="rerun runs whose results exist")] = False,
    results_dir: ResultsDir = Path("results"),
    suites_dir: SuitesDir = None,
    backend: Annotated[
        Backend, typer.Option("--backend", help="local (one run at a time) or ray (one Ray task per run)")
    ] = Backend.local,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (auto: the running one)")
    ] = None,
    cpus_per_run: Annotated[float, typer.Option("--cpus-per-run", help="CPUs a Ray task asks for")] = 1.0,
    jobs: Annotated[
        str,
        typer.Option(
            "--jobs",
            help="local backend: runs at a time, each on cores/jobs torch threads; "
            "auto: one per core for tiny-world suites without a GPU, else 1",
        ),
    ] = "1",
    overrides: SetOption = [],  # noqa: B006
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the run plan and memory estimates; run nothing")
    ] = False,
) -> None:
    """Run a suite: train and evaluate every missing run, then write its leaderboard."""
    from peft_rlvr_bench.paths import outputs_dir
    from peft_rlvr_bench.preflight import preflight
    from peft_rlvr_bench.suite import load_suite, resolve_suite_path

    loaded = load_suite(resolve_suite_path(suite, suites_dir), overrides)
    # Every flag is checked before a dry run returns: a dry run promises the real run will start.
    if results_dir.exists() and not results_dir.is_dir():
        raise UserError(f"--results-dir {results_dir}: is a file, not a directory; pass a directory")
    preflight(loaded, results_dir, outputs_dir(), writable=not dry_run)
    if backend is Backend.local and address is not None:
        raise UserError("--address names a Ray cluster; add --backend ray")
    if not cpus_per_run > 0:
        raise UserError(f"--cpus-per-run {cpus_per_run:g}: must be above 0, e.g. --cpus-per-run 1")
    from peft_rlvr_bench.runner.pool import parse_jobs

    jobs_count = parse_jobs(jobs, loaded)
    if jobs_count > 1 and backend is not Backend.local:
        raise UserError("--jobs runs several runs on this machine; Ray schedules its own: drop --jobs")
    if dry_run:
        from peft_rlvr_bench.dry_run import render_plan
        from peft_rlvr_bench.runner.selection import selection_dry_run

        plan_root = results_dir
        if loaded.spec.select is not None:
            loaded, plan_root, note = selection_dry_run(loaded, results_dir, force)
            print(note)
        print(render_plan(loaded, plan_root, force=force))
        return
    from peft_rlvr_bench.cli.summary import render_run_summary
    from peft_rlvr_bench.reporting.leaderboard import write_leaderboard
    from peft_rlvr_bench.runner import run_suite

    if loaded.spec.select is not None:  # the selection stage first (locally), resumably
        from peft_rlvr_bench.runner.selection import run_selection

        loaded = run_selection(loaded, results_dir, force=force, jobs=jobs_count)
    if backend is Backend.ray:
        from peft_rlvr_bench.runner.ray_backend import run_suite_ray

        outcome = run_suite_ray(loaded, results_dir, force, address=address, cpus_per_run=cpus_per_run)
    else:
        outcome = run_suite(loaded, results_dir, force=force, jobs=jobs_count)
    current = {r.run_id for r in loaded.runs} | {d.run_id for d in loaded.derived}
    files = write_leaderboard(results_dir / loaded.spec.name, loaded.spec.name, current, loaded.path)
    print(render_run_summary(files))
    diverged = [r for r in outcome.ran if r.status == "diverged"]
    if diverged:  # a finding, not a fault: the exit code stays 0
        print(f"{len(diverged)} run(s) diverged; see {files.markdown}", file=sys.stderr)
    failed = [r for r in outcome.ran if r.status == "failed"]
    for result in failed:
        print(f"failed: {result.run_id}: {result.reason}", file=sys.stderr)
    if failed:
        print(
            f"{len(failed)} run(s) failed; fix the cause and rerun the same command to retry them",
            file=sys.stderr,
        )
        raise typer.Exit(code=1)


@app.command()
@user_errors_exit_2
def params(
    suite: Annotated[str, typer.Argument(help="suite name (suites/NAME.yaml) or path")],
    suites_dir: SuitesDir = None,
) -> None:
    """Trainable-parameter count of every adapter entry, to match methods by budget before a run.

    Counted on the meta device: no weights are loaded and the tiny world is never built."""
    from peft_rlvr_bench.cli.params import count_rows, render_params
    from peft_rlvr_bench.suite import load_suite, resolve_suite_path

    loaded = load_suite(resolve_suite_path(suite, suites_dir))
    if loaded.awaits_selection:  # every grid point (an r: [...] changes the count)
        from peft_rlvr_bench.runner.selection import stage_round

        first = stage_round(loaded, {})
        assert first is not None
        loaded = first[0]
    print(render_params(count_rows(loaded)))


@app.command()
@user_errors_exit_2
def leaderboard(
    suite: Annotated[str, typer.Argument(help="suite name")],
    results_dir: ResultsDir = Path("results"),
    suites_dir: SuitesDir = None,
) -> None:
    """Write results/<suite>/leaderboard.{md,csv,html} from the suite's result files."""
    from peft_rlvr_bench.reporting.leaderboard import write_leaderboard

    name, current = suite_and_current_runs(suite, suites_dir)
    files = write_leaderboard(results_dir / name, name, current, suite_file_of(suite, suites_dir))
    print(files.markdown.read_text())
    print(f"wrote {files.markdown}, {files.csv} and {files.html}", file=sys.stderr)


def _check_known_suite(suite: str, name: str, results_dir: Path, suites_dir: Path | None) -> None:
    """Raises UserError unless the suite has a YAML file or a results folder."""
    from peft_rlvr_bench.registry import did_you_mean
    from peft_rlvr_bench.suite import known_suites

    if (results_dir / name).is_dir() or suite_file_of(suite, suites_dir) is not None:
        return
    with_results = {path.name for path in results_dir.glob("*") if path.is_dir()}
    known = sorted(with_results | set(known_suites(suites_dir)))
    raise UserError(
        f"prb compare: unknown suite {name!r}{did_you_mean(name, known)}: there is no suites/{name}.yaml "
        f"and no {results_dir / name}; known: {', '.join(known) or 'none'}"
    )


@app.command()
@user_errors_exit_2
def compare(
    suites: Annotated[list[str], typer.Argument(help="two or more suite names")],
    results_dir: ResultsDir = Path("results"),
    out: Annotated[Path | None, typer.Option("--out", help="also write the Markdown to this file")] = None,
    suites_dir: SuitesDir = None,
) -> None:
    """Put methods side by side across suites: in-domain, out-of-domain, forgetting, with CIs."""
    from peft_rlvr_bench.reporting.compare import render_comparison
    from peft_rlvr_bench.reporting.leaderboard import load_leaderboard
    from peft_rlvr_bench.reporting.results import write_text_atomic

    if len(suites) < 2:
        raise UserError(
            f"prb compare: got one suite ({suites[0]}); name two or more, e.g. prb compare tiny tiny-peft"
        )
    if out is not None and out.is_dir():
        raise UserError(f"--out {out}: is a directory; give a file name, e.g. --out {out / 'comparison.md'}")
    names = [suite_name(suite) for suite in suites]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UserError(f"prb compare: suite {twice[0]!r} is named twice; name each suite once")
    boards = []
    for suite, name in zip(suites, names, strict=True):
        _check_known_suite(suite, name, results_dir, suites_dir)
        name, current = suite_and_current_runs(suite, suites_dir)
        boards.append(load_leaderboard(results_dir / name, name, current)[0])
    markdown = render_comparison(boards)
    print(markdown, end="")
    if out is not None:
        write_text_atomic(out, markdown)
        print(f"wrote {out}", file=sys.stderr)


@app.command()
@user_errors_exit_2
def claims(
    suite: Annotated[str, typer.Argument(help="suite name whose results hold the claims' runs")] = "claims",
    results_dir: ResultsDir = Path("results"),
) -> None:
    """Write results/<suite>/CLAIMS.md: each published claim with our figure, CI and verdict."""
    from peft_rlvr_bench.reporting.claims import write_claims
    from peft_rlvr_bench.reporting.claims_plots import claims_plots
    from peft_rlvr_bench.reporting.leaderboard import load_suite_results

    suite = suite_name(suite)
    path = write_claims(results_dir / suite, suite, load_suite_results, claims_plots)
    print(path.read_text())
    print(f"wrote {path}", file=sys.stderr)


@app.command()
@user_errors_exit_2
def verify(
    suite: Annotated[str, typer.Argument(help="suite name")],
    results_dir: Annotated[
        Path, typer.Option("--results-dir", help="where the fresh results/<suite>/ lives")
    ],
    against: Annotated[
        Path, typer.Option("--against", help="where the committed results/<suite>/ lives")
    ] = Path("results"),
) -> None:
    """Compare a fresh run of a suite with its committed results: base metrics equal, each run
    inside its method's 95% prediction interval for a new seed; exit code 1 when one differs."""
    from peft_rlvr_bench.reporting.reproduce import verify as verify_results

    name = suite_name(suite)
    report, ok = verify_results(name, results_dir, against)
    print(report)
    if not ok:
        raise typer.Exit(code=1)
