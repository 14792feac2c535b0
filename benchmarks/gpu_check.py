"""``make gpu-check``: the real-model path at Qwen2.5-1.5B's size on one GPU, in minutes, offline.

    python benchmarks/gpu_check.py                      # Qwen2.5-1.5B's shape (the GPU check)
    python benchmarks/gpu_check.py --shape tiny         # the same steps at a tiny shape (CPU smoke)

A randomly initialised ``Qwen2ForCausalLM`` with Qwen2.5-1.5B's sizes (``architecture.KNOWN``; no
download) and the tiny world's tokenizer, built in memory and passed as an object: a Qwen2 config
makes transformers 5 reload a custom tokenizer from disk as a Qwen2 tokenizer, which it is not.
The model samples ids beyond the tokenizer's 43, which decode to nothing, so completions run to
``max_completion_length`` and score 0: the same work in every case, which is what timing needs.
Steps (``gpu_steps.py``), each with its seconds and peak memory:

1. GRPO updates through bare TRL and through the harness (``overhead.run_case``) in interleaved
   pairs: the harness overhead on this device (``paired.ratio_interval``), and TRL's token counts
   compared to check the pairs did the same work;
2. the measured peak GPU memory of a harness run against the dry run's estimate (``dry_run``'s
   figure at its 512 prompt tokens, and ``memory.estimate_memory`` at this run's prompt length);
3. trajectory recording of the full model (every parameter trainable), two records;
4. ``prb extrapolate`` with relex and alpharl, and ``prb analyze``, on synthetic checkpoints of the
   same shape (``synthetic.py``), each in a process of its own (``measure.in_subprocess``).

Prints one table and writes it, with the raw figures, as JSON (``--json``). A step that raises
becomes a FAILED row and the others still run (exit status 1): on a first contact with a machine
every finding counts.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402
from gpu_steps import (  # noqa: E402
    REPO,
    SHAPES,
    Row,
    architecture,
    build_model,
    checkpoint_steps,
    in_process,
    memory_estimates,
    overhead_pairs,
    record_trajectory,
    synthetic_layout,
    tokenizer_and_spec,
)
from measure import in_subprocess  # noqa: E402


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def render(rows: Sequence[Row]) -> str:
    lines = ["| step | s | peak GPU MB | +CPU MB | figure |", "| --- | --: | --: | --: | --- |"]
    for row in rows:
        seconds = "-" if row.seconds is None else f"{row.seconds:.2f}"
        lines.append(
            f"| {row.step} | {seconds} | {_mb(row.gpu_peak_mb)} | {_mb(row.cpu_added_mb)} | {row.figure} |"
        )
    return "\n".join(lines)


def _attempt(rows: list[Row], failed: list[str], step: str, call: Callable[[], Any]) -> Any:
    """``call()``, or None with a ``failed`` row: on a first GPU contact one failing step must not
    hide what the others measure."""
    started = time.perf_counter()
    try:
        value = call()
    except Exception as exc:
        traceback.print_exc()
        rows.append(Row(step, None, None, None, f"FAILED: {type(exc).__name__}: {str(exc)[:300]}"))
        failed.append(step)
        return None
    print(f"gpu-check: {step} done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return value


def run_check(
    shape: str,
    updates: int,
    pairs: int,
    checkpoints: int,
    adapter: str,
    work: Path,
    run_in_process: bool = False,
) -> dict[str, Any]:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    arch = architecture(shape)
    tokenizer, spec = tokenizer_and_spec(updates, adapter)
    rows: list[Row] = []
    failed: list[str] = []
    started = time.perf_counter()
    model = build_model(arch, tokenizer, 0, device)
    count = sum(p.numel() for p in model.parameters())
    rows.append(
        Row(
            "build random Qwen2 model",
            time.perf_counter() - started,
            None,
            None,
            f"{count / 1e6:.1f}M parameters on {device}",
        )
    )
    del model
    overhead = _attempt(
        rows,
        failed,
        "GRPO pairs",
        lambda: overhead_pairs(arch, tokenizer, spec, pairs, device, work / "grpo"),
    )
    if overhead is not None:
        rows += _overhead_rows(overhead, adapter, pairs, updates)
    estimates = _attempt(rows, failed, "memory estimate", lambda: memory_estimates(arch, spec, tokenizer))
    if estimates is not None:
        measured = overhead["peak_gpu_mb"]["harness"] if overhead else None
        against = "-" if measured is None else f"{measured / 1024 / estimates['at_own_prompt_gib']:.2f}"
        rows.append(
            Row(
                "memory: measured / estimate",
                None,
                measured,
                None,
                f"estimate {estimates['at_own_prompt_gib'] * 1024:.0f} MB at {estimates['prompt_tokens']} "
                f"prompt tokens (measured / estimate {against}); "
                f"the dry run's {estimates['dry_run_gib'] * 1024:.0f} MB at 512",
            )
        )
    trajectory = _attempt(
        rows, failed, "trajectory", lambda: record_trajectory(arch, tokenizer, device, work / "trajectory")
    )
    shutil.rmtree(work / "trajectory", ignore_errors=True)
    if trajectory is not None:
        per_record = trajectory["bytes"] / len(trajectory["seconds"]) / trajectory["trainable_bytes"]
        rows.append(
            Row(
                "trajectory record (full model)",
                statistics.fmean(trajectory["seconds"]),
                trajectory["gpu_peak_mb"],
                None,
                f"{len(trajectory['seconds'])} records, bytes / trainable {per_record:.3f}",
            )
        )
    call = in_process if run_in_process else in_subprocess
    layout = synthetic_layout(arch)
    extra = _attempt(
        rows,
        failed,
        "checkpoints",
        lambda: checkpoint_steps(layout, work / "checkpoints", checkpoints, device, call),
    )
    rows += extra or []
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    return {
        "shape": shape,
        "device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu",
        "versions": _versions(),
        "rows": [asdict(row) for row in rows],
        "failed": failed,
        "overhead": overhead,
        "memory_estimate": estimates,
        "trajectory": trajectory,
        "table": render(rows),
    }


def _overhead_rows(overhead: dict[str, Any], adapter: str, pairs: int, updates: int) -> list[Row]:
    rows = [
        Row(
            f"GRPO update, {case} ({adapter})",
            overhead["median_update_seconds"][case],
            overhead["peak_gpu_mb"][case],
            None,
            f"median of {pairs} x {updates - 1} updates",
        )
        for case in ("bare-trl", "harness")
    ]
    ratio = overhead["harness_over_bare"]
    interval = "" if ratio["t_low"] is None else f" (95% t {ratio['t_low']:.3f} to {ratio['t_high']:.3f})"
    same = overhead["same_tokens"]
    figure = f"{ratio['ratio']:.3f}{interval}, {pairs} pairs; same tokens: {same}"
    return [*rows, Row("harness / bare TRL", None, None, None, figure)]


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("torch", "transformers", "trl", "peft", "accelerate")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="1.5b")
    parser.add_argument("--updates", type=int, default=None, help="per GRPO run (default 6; tiny: 3)")
    parser.add_argument("--pairs", type=int, default=None, help="bare/harness pairs (default 3; tiny: 1)")
    parser.add_argument("--checkpoints", type=int, default=3, help="synthetic checkpoints T")
    parser.add_argument("--adapter", default="lora", help="the tiny suite's adapter to train")
    parser.add_argument("--json", type=Path, default=REPO / "outputs" / "gpu-check.json")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="extrapolate and analyze in this process (no memory figures)",
    )
    parser.add_argument(
        "--work", type=Path, default=None, help="scratch directory (default: a temporary one)"
    )
    args = parser.parse_args(argv)
    tiny = args.shape == "tiny"
    updates = args.updates or (3 if tiny else 6)
    pairs = args.pairs or (1 if tiny else 3)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.work) as scratch:
        result = run_check(
            args.shape, updates, pairs, args.checkpoints, args.adapter, Path(scratch), args.in_process
        )
    result["wall_seconds"] = time.perf_counter() - started
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
    head = f"gpu-check ({result['shape']}, {result['device']}, {result['wall_seconds']:.0f} s)"
    print(f"{head}\n\n{result['table']}")
    print(f"\n(JSON: {args.json})")
    if result["failed"]:
        print(f"gpu-check: failed steps: {', '.join(result['failed'])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
