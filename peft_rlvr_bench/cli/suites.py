"""Suite commands: validate, list, run, params, leaderboard, compare, claims, verify."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from peft_rlvr_bench.cli.app import (
    ResultsDir,
    SetOption,
    app,
    suite_and_current_runs,
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
    from peft_rlvr_bench.suite import load_suite

    failed = 0
    for path in files:
        suite = load_suite(path, overrides)
        problems = []
        if online:
            from peft_rlvr_bench.suite.online import online_problems

            problems = online_problems(suite)
        for problem in problems:
            print(problem, file=sys.stderr)
        failed += len(problems)
        if not problems:
            print(f"ok: {path} ({len(suite.runs)} runs{', online' if online else ''})")
    if failed:
        raise UserError(f"{failed} online check(s) failed (above)")


@app.command("list")
@user_errors_exit_2
def list_components(
    kind: Annotated[str, typer.Argument(help="adapters, recipes, tasks, verifiers, suites, or all")] = "all",
) -> None:
    """List registered components (and shipped suites)."""
    from peft_rlvr_bench.registry import REGISTRIES, did_you_mean

    kinds = [*REGISTRIES, "suites"]
    if kind != "all" and kind not in kinds:
        raise UserError(
            f"prb list: unknown kind {kind!r}{did_you_mean(kind, kinds)}; choose from {', '.join(kinds)}"
        )
    for name in kinds if kind == "all" else [kind]:
        entries = (
            sorted(p.stem for p in Path("suites").glob("*.yaml"))
            if name == "suites"
            else REGISTRIES[name].names()
        )
        print(f"{name}: {', '.join(entries)}")


@app.command()
@user_errors_exit_2
def run(
    suite: Annotated[str, typer.Argument(help="suite name (suites/NAME.yaml) or path")],
    force: Annotated[bool, typer.Option("--force", help="rerun runs whose results exist")] = False,
    results_dir: ResultsDir = Path("results"),
    backend: Annotated[
        str, typer.Option("--backend", help="local (one run at a time) or ray (one Ray task per run)")
    ] = "local",
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster address (auto: the running one)")
    ] = None,
    cpus_per_run: Annotated[float, typer.Option("--cpus-per-run", help="CPUs a Ray task asks for")] = 1.0,
    overrides: SetOption = [],  # noqa: B006
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the run plan and memory estimates; run nothing")
    ] = False,
) -> None:
    """Run a suite: train and evaluate every missing run, then write its leaderboard."""
    from peft_rlvr_bench.reporting.leaderboard import write_leaderboard
    from peft_rlvr_bench.runner import run_suite
    from peft_rlvr_bench.suite import load_suite, resolve_suite_path

    loaded = load_suite(resolve_suite_path(suite), overrides)
    if dry_run:
        from peft_rlvr_bench.dry_run import render_plan

        print(render_plan(loaded, results_dir, force=force))
        return
    if results_dir.exists() and not results_dir.is_dir():
        raise UserError(f"--results-dir {results_dir}: is a file, not a directory; pass a directory")
    if backend not in ("local", "ray"):
        raise UserError(f"--backend {backend!r}: choose local or ray")
    if backend == "local" and address is not None:
        raise UserError("--address names a Ray cluster; add --backend ray")
    if backend == "ray":
        from peft_rlvr_bench.runner.ray_backend import run_suite_ray

        outcome = run_suite_ray(loaded, results_dir, force, address=address, cpus_per_run=cpus_per_run)
    else:
        outcome = run_suite(loaded, results_dir, force=force)
    current = {r.run_id for r in loaded.runs} | {d.run_id for d in loaded.derived}
    files = write_leaderboard(results_dir / loaded.spec.name, loaded.spec.name, current)
    print(files.markdown.read_text())
    failed = [r for r in outcome.ran if r.status != "ok"]
    if failed:
        print(f"{len(failed)} run(s) did not finish ok; see the list under the table", file=sys.stderr)


@app.command()
@user_errors_exit_2
def params(suite: Annotated[str, typer.Argument(help="suite name (suites/NAME.yaml) or path")]) -> None:
    """Trainable-parameter count of every adapter entry, to match methods by budget before a run."""
    from peft_rlvr_bench.adapters import ApplyContext, count_parameters
    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.registry import ADAPTERS
    from peft_rlvr_bench.suite import load_suite, resolve_suite_path

    loaded = load_suite(resolve_suite_path(suite))
    seen: set[str] = set()
    for run in loaded.runs:
        if run.adapter.label in seen or run.dependencies:  # dependent masks exist only after their run
            continue
        seen.add(run.adapter.label)
        adapter = ADAPTERS.get(run.adapter.name)()
        model = load_base(run.model)[0]
        total = count_parameters(model)[1]
        wrapped = adapter.apply(model, adapter.Params.model_validate(run.adapter.params), ApplyContext())
        trainable = adapter.trainable_parameters(wrapped)
        print(f"{run.adapter.label:<24} {trainable:>12,}  ({100 * trainable / total:.2f}% of {total:,})")


@app.command()
@user_errors_exit_2
def leaderboard(
    suite: Annotated[str, typer.Argument(help="suite name")],
    results_dir: ResultsDir = Path("results"),
) -> None:
    """Write results/<suite>/leaderboard.{md,csv,html} from the suite's result files."""
    from peft_rlvr_bench.reporting.leaderboard import write_leaderboard

    name, current = suite_and_current_runs(suite)
    files = write_leaderboard(results_dir / name, name, current)
    print(files.markdown.read_text())
    print(f"wrote {files.markdown}, {files.csv} and {files.html}", file=sys.stderr)


def _check_known_suite(suite: str, name: str, results_dir: Path) -> None:
    """Raises UserError unless the suite has a YAML file or a results folder."""
    from peft_rlvr_bench.registry import did_you_mean

    if (results_dir / name).is_dir() or Path(suite).is_file() or (Path("suites") / f"{name}.yaml").is_file():
        return
    with_results = {path.name for path in results_dir.glob("*") if path.is_dir()}
    known = sorted(with_results | {path.stem for path in Path("suites").glob("*.yaml")})
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
        _check_known_suite(suite, name, results_dir)
        name, current = suite_and_current_runs(suite)
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
