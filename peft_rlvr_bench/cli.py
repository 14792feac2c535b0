"""The ``prb`` command line. Bad input is one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from peft_rlvr_bench.console import progress_columns, quiet_libraries
from peft_rlvr_bench.errors import UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Benchmark PEFT methods under RL with verifiable rewards.",
)

F = TypeVar("F", bound=Callable[..., Any])

ResultsDir = Annotated[Path, typer.Option("--results-dir", help="where results/<suite>/ lives")]
SetOption = Annotated[
    list[str],
    typer.Option(
        "--set", help="PATH=VALUE into the suite before validation, e.g. eval.n_items=8; repeatable"
    ),
]


def user_errors_exit_2(command: F) -> F:
    """Turns a ``UserError`` into its one-line message and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(code=2) from None
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            # Every result file is written to a temporary file and renamed: none is half written.
            print(
                f"error: {exc.filename or 'a file'}: disk full (no space left on device); results "
                "already written are intact; free space and rerun the same command to continue",
                file=sys.stderr,
            )
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@user_errors_exit_2
def validate(
    files: Annotated[list[Path], typer.Argument(help="suite YAML files")],
    overrides: SetOption = [],  # noqa: B006
) -> None:
    """Validate suite files without running anything."""
    from peft_rlvr_bench.suite import load_suite

    for path in files:
        suite = load_suite(path, overrides)
        print(f"ok: {path} ({len(suite.runs)} runs)")


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


def _parse_checkpoint(value: str) -> tuple[int, Path]:
    step, sep, directory = value.partition("=")
    if not sep or not step.strip().isdigit():
        raise UserError(
            f"--checkpoint {value!r}: write STEP=DIR, STEP the optimizer updates of DIR (e.g. 50=ckpt-50)"
        )
    path = Path(directory)
    if not path.is_dir():
        raise UserError(f"--checkpoint {value!r}: {path} is not a directory; check the path")
    return int(step), path


@app.command()
@user_errors_exit_2
def extrapolate(
    method: Annotated[
        str, typer.Argument(help="extrapolator: linear, relex, alpharl (regrounding and next run in suites)")
    ],
    base: Annotated[Path, typer.Option("--base", help="the base model's directory (W0)")],
    checkpoint: Annotated[
        list[str], typer.Option("--checkpoint", help="STEP=DIR, repeated; HF or PEFT dirs")
    ],
    target_step: Annotated[int, typer.Option("--target-step", help="optimizer update to predict")],
    out: Annotated[Path, typer.Option("--out", help="new directory for the predicted checkpoint")],
    param: Annotated[list[str], typer.Option("--param", help="KEY=VALUE method parameter, repeated")] = [],  # noqa: B006
) -> None:
    """Predict a checkpoint from checkpoints trained anywhere (verl, TRL, OpenRLHF, this harness)."""
    import yaml

    from peft_rlvr_bench.extrapolation.checkpoints import extrapolate_checkpoints

    if not base.is_dir():
        raise UserError(f"--base {base}: not a directory; pass the base model's Hugging Face directory")
    checkpoints = dict(_parse_checkpoint(value) for value in checkpoint)
    if len(checkpoints) != len(checkpoint):
        raise UserError("--checkpoint: two checkpoints name the same step; give each step once")
    if target_step < max(checkpoints):
        raise UserError(
            f"--target-step {target_step}: comes before the last checkpoint (update {max(checkpoints)}); "
            "predict an update at or after it"
        )
    params = {}
    for item in param:
        key, sep, value = item.partition("=")
        if not sep:
            raise UserError(f"--param {item!r}: write KEY=VALUE (e.g. rank=2)")
        params[key] = yaml.safe_load(value)
    written = extrapolate_checkpoints(method, params, base, checkpoints, target_step, out)
    print(f"wrote {written} ({method}, updates {sorted(checkpoints)} -> {target_step})")


@app.command()
@user_errors_exit_2
def analyze(
    base: Annotated[Path, typer.Option("--base", help="the base model's directory (W0)")],
    tuned: Annotated[Path, typer.Option("--tuned", help="the tuned model: HF checkpoint or PEFT dir")],
    trajectory: Annotated[
        Path | None, typer.Option("--trajectory", help="a harness trajectory dir, for trajectory metrics")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the full summary as JSON")] = None,
    device: Annotated[str, typer.Option("--device", help="where the math runs: cpu, cuda, cuda:N")] = "cpu",
) -> None:
    """Weight geometry of a tuned checkpoint against its base (METHODS.md §3), from any HF/PEFT dirs."""
    from peft_rlvr_bench.analyze import analyze_dirs, check_json_path, render_analysis, write_analysis

    if json_out is not None:
        check_json_path(json_out)
    analysis = analyze_dirs(base, tuned, trajectory, device=device)
    print(render_analysis(analysis))
    if json_out is not None:
        write_analysis(analysis, json_out)
        print(f"wrote {json_out}", file=sys.stderr)


def _suite_name(suite: str) -> str:
    """``tiny`` -> ``tiny``; ``suites/tiny.yaml`` -> ``tiny``. A name cannot leave ``results/``."""
    from peft_rlvr_bench.suite import is_safe_name

    name = Path(suite).stem if suite.endswith((".yaml", ".yml")) else suite
    if not is_safe_name(name):
        raise UserError(
            f"suite {suite!r}: a suite name uses letters, digits, '.', '_' and '-' only (it names "
            "results/<suite>/); give the name, e.g. tiny, or the suite's YAML file"
        )
    return name


def _suite_and_current_runs(suite: str) -> tuple[str, set[str] | None]:
    """A suite argument (name or YAML path) -> its name and, when its YAML exists, its run ids.

    Result files of runs the suite no longer contains (an edited suite changes run ids) are
    then left out of the table.
    """
    from peft_rlvr_bench.suite import load_suite

    name = _suite_name(suite)
    suite_file = Path(suite) if suite.endswith((".yaml", ".yml")) else Path("suites") / f"{name}.yaml"
    if not suite_file.exists():
        return name, None
    loaded = load_suite(suite_file)
    return name, {r.run_id for r in loaded.runs} | {d.run_id for d in loaded.derived}


@app.command()
@user_errors_exit_2
def leaderboard(
    suite: Annotated[str, typer.Argument(help="suite name")],
    results_dir: ResultsDir = Path("results"),
) -> None:
    """Write results/<suite>/leaderboard.{md,csv,html} from the suite's result files."""
    from peft_rlvr_bench.reporting.leaderboard import write_leaderboard

    name, current = _suite_and_current_runs(suite)
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
    names = [_suite_name(suite) for suite in suites]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UserError(f"prb compare: suite {twice[0]!r} is named twice; name each suite once")
    boards = []
    for suite, name in zip(suites, names, strict=True):
        _check_known_suite(suite, name, results_dir)
        name, current = _suite_and_current_runs(suite)
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

    suite = _suite_name(suite)
    path = write_claims(results_dir / suite, suite, load_suite_results, claims_plots)
    print(path.read_text())
    print(f"wrote {path}", file=sys.stderr)


world_app = typer.Typer(
    no_args_is_help=True, help="Rebuild the tiny world and check it against the committed one."
)
app.add_typer(world_app, name="world")


@world_app.command("build")
@user_errors_exit_2
def world_build(
    out: Annotated[
        Path | None, typer.Option("--out", help="new directory (default: outputs/world/<recipe key>)")
    ] = None,
    recipe: Annotated[
        Path | None, typer.Option("--recipe", help="YAML of recipe fields (default: the committed world's)")
    ] = None,
) -> None:
    """Rebuild a tiny world from its recipe (minutes) and compare it with the committed one."""
    from rich.console import Console
    from rich.progress import Progress

    from peft_rlvr_bench.world.commands import build_command, build_target, load_recipe

    loaded = load_recipe(recipe)
    target = build_target(out, loaded)
    with Progress(*progress_columns(), console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("tiny world: SFT pretraining", total=loaded.sft_steps)
        report = build_command(target, loaded, lambda step: progress.update(task, completed=step))
    print(report)


@world_app.command("check")
@user_errors_exit_2
def world_check(
    directory: Annotated[
        Path | None, typer.Argument(help="a world directory (default: the committed ones)")
    ] = None,
    against: Annotated[
        Path | None, typer.Option("--against", help="compare with this world (default: the committed one)")
    ] = None,
) -> None:
    """Check the committed worlds' files against their SHA256SUMS, or compare a world with one;
    exit code 1 when they differ."""
    from peft_rlvr_bench.world.commands import check_command

    report, same = check_command(directory, against)
    print(report)
    if not same:
        raise typer.Exit(code=1)


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

    name = _suite_name(suite)
    report, ok = verify_results(name, results_dir, against)
    print(report)
    if not ok:
        raise typer.Exit(code=1)


def run_cli(argv: list[str] | None = None) -> int:
    """Runs ``prb`` with ``argv`` and returns its exit code. Usage errors (an unknown option or
    command, a missing argument, a value of the wrong type) are one line on stderr and exit code 2,
    like every other bad input, instead of click's framed block."""
    try:
        from typer._click import exceptions as click_exceptions  # typer >= 0.16 vendors click
    except ImportError:  # pragma: no cover - older typer uses click itself
        from click import exceptions as click_exceptions  # type: ignore[no-redef]

    try:
        code = app(args=argv, prog_name="prb", standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:
        exc.show()
        return exc.exit_code
    except click_exceptions.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "prb"
        message = " ".join(exc.format_message().split()).rstrip(".")
        print(f"error: {command}: {message}; see `{command} --help`", file=sys.stderr)
        return 2
    except click_exceptions.ClickException as exc:
        print(f"error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("aborted", file=sys.stderr)
        return 130
    return code if isinstance(code, int) else 0


def main() -> None:
    quiet_libraries()
    sys.exit(run_cli())


if __name__ == "__main__":
    main()
