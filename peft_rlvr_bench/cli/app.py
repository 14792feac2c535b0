"""The ``prb`` application object, its shared options and helpers; commands register on it in
``cli/suites.py``, ``cli/checkpoints.py`` and ``cli/world.py``."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from peft_rlvr_bench.disk import file_of, is_disk_full, mount_point
from peft_rlvr_bench.errors import UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Benchmark PEFT methods under RL with verifiable rewards.",
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"prb (peft_rlvr_bench) {version('peft_rlvr_bench')}")
        except PackageNotFoundError:  # a checkout on PYTHONPATH, never installed
            print("prb (peft_rlvr_bench) not installed; running from a source checkout")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", help="print the version and exit", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """Benchmark PEFT methods under RL with verifiable rewards."""


class Backend(str, Enum):
    """Where a suite's runs execute."""

    local = "local"
    ray = "ray"


F = TypeVar("F", bound=Callable[..., Any])

ResultsDir = Annotated[Path, typer.Option("--results-dir", help="where results/<suite>/ lives")]
SuitesDir = Annotated[
    Path | None,
    typer.Option(
        "--suites-dir",
        help="folder of NAME.yaml suites (default: ./suites, then the suites shipped with prb)",
    ),
]
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
            if not is_disk_full(exc):
                raise
            # Every result file is written to a temporary file and renamed: none is half written.
            written = file_of(exc)
            disk = mount_point(Path(written) if written else Path.cwd())
            print(
                f"error: {written or 'a file'}: disk full (no space left on {disk}); results "
                "already written are intact; free space and rerun the same command to continue",
                file=sys.stderr,
            )
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


def suite_name(suite: str) -> str:
    """``tiny`` -> ``tiny``; ``suites/tiny.yaml`` -> ``tiny``. A name cannot leave ``results/``."""
    from peft_rlvr_bench.suite import is_safe_name

    name = Path(suite).stem if suite.endswith((".yaml", ".yml")) else suite
    if not is_safe_name(name):
        raise UserError(
            f"suite {suite!r}: a suite name uses letters, digits, '.', '_' and '-' only (it names "
            "results/<suite>/); give the name, e.g. tiny, or the suite's YAML file"
        )
    return name


def suite_file_of(suite: str, suites_dir: Path | None = None) -> Path | None:
    """A suite argument (name or YAML path) -> its YAML file, or None when there is none."""
    from peft_rlvr_bench.suite import find_suite

    if suite.endswith((".yaml", ".yml")):
        return Path(suite) if Path(suite).is_file() else None
    return find_suite(suite_name(suite), suites_dir)


def suite_and_current_runs(suite: str, suites_dir: Path | None = None) -> tuple[str, set[str] | None]:
    """A suite argument (name or YAML path) -> its name and, when its YAML exists, its run ids.

    Result files of runs the suite no longer contains (an edited suite changes run ids) are
    then left out of the table.
    """
    from peft_rlvr_bench.suite import load_suite

    name = suite_name(suite)
    suite_file = suite_file_of(suite, suites_dir)
    if suite_file is None:
        return name, None
    loaded = load_suite(suite_file)
    if loaded.awaits_selection:  # its runs are known once chosen: keep every result
        return name, None
    return name, {r.run_id for r in loaded.runs} | {d.run_id for d in loaded.derived}
