"""The smoke suite's golden curve: per-update reward, loss and weight movement of its trained runs.

``make golden`` (``python -m tests.golden.smoke_curve``) runs the trained runs of
``suites/smoke.yaml`` through the runner (``runner.execute.execute_run``, scratch outputs, no
extrapolations) and writes to ``tests/golden/smoke.json`` each update's ``reward_mean``,
``reward_std``, ``loss`` and ``kl`` as TRL logged them, how far the weights had moved
(``update_norm``), and what those depend on: the world hash, the lock's hash, the package
versions, the processor family and the torch thread count. It then measures how far the figures
move under perturbations that change nothing but rounding (every weight one ulp up, one ulp down,
another thread count); the tolerance other processors get is a multiple of the largest move
(``docs/reproducibility.md``). ``tests/golden/test_smoke_curve.py`` holds the package to it.

Re-record whenever the world, the lock or the training path changes on purpose (the test says so).
"""

from __future__ import annotations

import json
import math
import os
import platform
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).with_name("smoke.json")
SUITE = Path(__file__).resolve().parents[2] / "suites" / "smoke.yaml"
LOGGED = ("reward_mean", "reward_std", "loss", "kl")
"""What TRL logs per update that the golden holds (``step_seconds`` is the machine's)."""
FIELDS = (*LOGGED, "update_norm")
"""...and how far the weights have moved: ``||W_t - W0||`` over every parameter, from the run's
recorded trajectory. On-policy GRPO's logged loss is ~0 by construction (ratio 1, centred
advantages), so the weights carry what the loss does not."""
THREADS = 1
"""torch threads the golden is recorded and checked with: any machine has one."""
SAFETY = 4.0
"""Tolerance = this many times the largest move measured under rounding-only perturbations."""
MEASURED_THREADS = 2
"""The other thread count of the measurement (reductions split differently)."""

Curves = dict[str, list[dict[str, float | int | None]]]
Perturbation = Callable[[Any], None]


def processor_family() -> str:
    """Vendor, model name and the SIMD level torch dispatches to: what decides the CPU kernels."""
    import torch

    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("vendor_id", "model name") and value.strip():
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    vendor = info.get("vendor_id", platform.machine())
    model = info.get("model name", platform.processor() or "unknown")
    return f"{vendor} {model} ({torch.backends.cpu.get_cpu_capability()})"


def stack() -> dict[str, Any]:
    """What the curve depends on besides the code: the world, the lock and the packages."""
    from peft_rlvr_bench.environment import lock_state, package_versions
    from peft_rlvr_bench.models import world_identity
    from peft_rlvr_bench.paths import lock_file, repo_root
    from peft_rlvr_bench.suite import load_suite

    lock = lock_state(lock_file(), repo_root())
    versions = package_versions()
    return {
        "world_hash": world_identity(load_suite(SUITE).spec.model)["hash"],
        "lock_sha256": lock.sha256 if lock is not None else None,
        "versions": {name: versions[name] for name in ("torch", "transformers", "trl", "peft")},
    }


@contextmanager
def _settings(outputs: Path, threads: int) -> Iterator[None]:
    import torch

    before_threads, before_outputs = torch.get_num_threads(), os.environ.get("PRB_OUTPUTS_DIR")
    torch.set_num_threads(threads)
    os.environ["PRB_OUTPUTS_DIR"] = str(outputs)
    try:
        yield
    finally:
        torch.set_num_threads(before_threads)
        if before_outputs is None:
            os.environ.pop("PRB_OUTPUTS_DIR", None)
        else:
            os.environ["PRB_OUTPUTS_DIR"] = before_outputs


@contextmanager
def _perturbed_bases(perturb: Perturbation | None) -> Iterator[None]:
    """Every base the runs load (the policy and the KL reference) passed through ``perturb``."""
    if perturb is None:
        yield
        return
    from peft_rlvr_bench import models
    from peft_rlvr_bench.rlvr import train

    original = models.load_base

    def load_base(*args: Any, **kwargs: Any) -> Any:
        model, tokenizer = original(*args, **kwargs)
        perturb(model)
        return model, tokenizer

    models.load_base, train.load_base = load_base, load_base
    try:
        yield
    finally:
        models.load_base, train.load_base = original, original


def smoke_curves(outputs: Path, threads: int = THREADS, perturb: Perturbation | None = None) -> Curves:
    """The per-update figures of every trained run of the smoke suite, by run label."""
    from peft_rlvr_bench.runner.execute import execute_run
    from peft_rlvr_bench.suite import load_suite

    curves: Curves = {}
    with _settings(outputs, threads), _perturbed_bases(perturb):
        for run in load_suite(SUITE).runs:
            result = execute_run(run)
            if result.status != "ok":
                raise RuntimeError(f"{run.run_id}: {result.status}: {result.reason}")
            moved = update_norms(run)
            curves[run.adapter.label] = [
                {
                    "step": record.step,
                    **{name: getattr(record, name) for name in LOGGED},
                    "update_norm": moved.get(record.step),
                }
                for record in result.train_curve
            ]
    return curves


def update_norms(run: Any) -> dict[int, float]:
    """``||W_t - W0||`` (float64, every parameter) at each update the run recorded."""
    from peft_rlvr_bench import models
    from peft_rlvr_bench.extrapolation.from_trajectory import effective_state_at, parameter_snapshot
    from peft_rlvr_bench.paths import trajectory_dir
    from peft_rlvr_bench.trajectory import Trajectory

    base = parameter_snapshot(models.load_base(run.model)[0])  # the run's W0, perturbed alike
    trajectory = Trajectory(trajectory_dir(run.suite, run.run_id))
    norms = {}
    for update in trajectory.updates:
        state = effective_state_at(trajectory, base, update)
        squares = sum(float((state[name].double() - base[name].double()).square().sum()) for name in base)
        norms[update] = math.sqrt(squares)
    return norms


def one_ulp(direction: float) -> Perturbation:
    """Moves every weight to its neighbouring float towards ``direction`` (+inf or -inf)."""

    def perturb(model: Any) -> None:
        import torch

        with torch.no_grad():
            for parameter in model.parameters():
                parameter.copy_(torch.nextafter(parameter, torch.full_like(parameter, direction)))

    return perturb


def deviations(reference: Curves, other: Curves) -> dict[str, float]:
    """The largest absolute difference of each field over every run and update (inf when the
    curves do not have the same runs and updates, or a figure is missing on one side only)."""
    worst = dict.fromkeys(FIELDS, 0.0)
    if {k: [p["step"] for p in v] for k, v in reference.items()} != {
        k: [p["step"] for p in v] for k, v in other.items()
    }:
        return dict.fromkeys(FIELDS, math.inf)
    for label, points in reference.items():
        for mine, theirs in zip(points, other[label], strict=True):
            for name in FIELDS:
                worst[name] = max(worst[name], _gap(mine[name], theirs[name]))
    return worst


def _gap(a: float | int | None, b: float | int | None) -> float:
    if a is None or b is None:
        return 0.0 if a is b else math.inf
    return abs(float(a) - float(b))


def tolerances(moves: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``SAFETY`` times the largest move of each field over every perturbation measured."""
    return {name: SAFETY * max(move[name] for move in moves.values()) for name in FIELDS}


def record(scratch: Path) -> dict[str, Any]:
    """Runs the curves and the perturbation measurements; returns the golden file's content."""
    curves = smoke_curves(scratch / "exact")
    moves = {
        f"{MEASURED_THREADS} torch threads": deviations(
            curves, smoke_curves(scratch / "threads", MEASURED_THREADS)
        ),
        "every weight one ulp up": deviations(
            curves, smoke_curves(scratch / "up", perturb=one_ulp(math.inf))
        ),
        "every weight one ulp down": deviations(
            curves, smoke_curves(scratch / "down", perturb=one_ulp(-math.inf))
        ),
    }
    return {
        "about": (
            "Per-update reward, loss and weight movement of the smoke suite's trained runs "
            "(suites/smoke.yaml), recorded by `make golden`; tests/golden/test_smoke_curve.py checks them "
            "exactly on this processor family with these torch threads, and within `tolerance` elsewhere "
            "(docs/reproducibility.md)."
        ),
        "processor": processor_family(),
        "torch_threads": THREADS,
        **stack(),
        "curves": curves,
        "measured_moves": moves,
        "tolerance": tolerances(moves),
        "tolerance_rule": f"{SAFETY:g} x the largest move of each figure under the perturbations measured",
    }


def load() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="prb-golden-") as scratch:
        golden = record(Path(scratch))
    GOLDEN.write_text(json.dumps(golden, indent=2) + "\n")
    print(f"wrote {GOLDEN}: {golden['processor']}, tolerance {golden['tolerance']}")


if __name__ == "__main__":
    main()
