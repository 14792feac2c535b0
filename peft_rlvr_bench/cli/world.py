"""``prb world build`` and ``prb world check``: the tiny world against the committed one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from peft_rlvr_bench.cli.app import app, user_errors_exit_2
from peft_rlvr_bench.console import progress_columns

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
