"""The ``prb`` command line. Bad input is one line on stderr and exit code 2, never a traceback.

The commands live in ``cli/suites.py`` (suites and their results), ``cli/checkpoints.py``
(``extrapolate``, ``analyze``) and ``cli/world.py`` (``world build``, ``world check``); importing
them registers them on ``cli.app.app``.
"""

from __future__ import annotations

import sys

import typer

from peft_rlvr_bench.cli import checkpoints, export, suites, world  # noqa: F401  (registers the commands)
from peft_rlvr_bench.cli.app import app
from peft_rlvr_bench.console import quiet_libraries

__all__ = ["app", "main", "run_cli"]


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
