"""The ``prb`` application object, its shared options and helpers; commands register on it in
``cli/suites.py``, ``cli/checkpoints.py`` and ``cli/world.py``."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from peft_rlvr_bench.disk import file_of, is_disk_full, mount_point
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


def suite_and_current_runs(suite: str) -> tuple[str, set[str] | None]:
    """A suite argument (name or YAML path) -> its name and, when its YAML exists, its run ids.

    Result files of runs the suite no longer contains (an edited suite changes run ids) are
    then left out of the table.
    """
    from peft_rlvr_bench.suite import load_suite

    name = suite_name(suite)
    suite_file = Path(suite) if suite.endswith((".yaml", ".yml")) else Path("suites") / f"{name}.yaml"
    if not suite_file.exists():
        return name, None
    loaded = load_suite(suite_file)
    return name, {r.run_id for r in loaded.runs} | {d.run_id for d in loaded.derived}
