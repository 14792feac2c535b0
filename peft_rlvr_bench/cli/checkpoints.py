"""Commands on checkpoints trained anywhere: ``prb extrapolate`` and ``prb analyze``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from peft_rlvr_bench.cli.app import (
    app,
    user_errors_exit_2,
)
from peft_rlvr_bench.errors import UserError


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
    from peft_rlvr_bench.safe_yaml import load_yaml

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
        try:
            params[key] = load_yaml(value)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise UserError(f"--param {item!r}: the value is not valid YAML ({problem}); quote it") from None
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
    """Weight geometry of a tuned checkpoint against its base (docs/methods.md), from any HF/PEFT dirs."""
    from peft_rlvr_bench.analyze import analyze_dirs, check_json_path, render_analysis, write_analysis

    if json_out is not None:
        check_json_path(json_out)
    analysis = analyze_dirs(base, tuned, trajectory, device=device)
    print(render_analysis(analysis))
    if json_out is not None:
        write_analysis(analysis, json_out)
        print(f"wrote {json_out}", file=sys.stderr)
