"""``prb verify``: does a fresh run of a suite reproduce its committed results?

The base evaluation must match: every greedy accuracy exactly (a fixed model, greedy decoding),
sampled accuracies and answer NLLs within the tolerances below. RL runs are stochastic in
float rounding across processors, so a fresh run must instead fall inside the committed
**prediction interval for a new seed** of its method:
``mean ± t_{0.975, n-1} · s · sqrt(1 + 1/n)`` over the n committed seeds, for in-domain and
out-of-domain accuracy and for forgetting (base minus tuned on the forgetting role).
docs/reproducibility.md says how the tolerances were measured.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.results import ROLES, RunResult

SAMPLED_TOLERANCE = 0.004
"""avg@k and pass@k of the base: 16 of the 4000 samples (500 items x 8) changing their draw, or
2 of 500 items changing pass@8. Measured on one machine across thread counts: 0."""

NLL_TOLERANCE = 1e-4
"""Answer NLL of the base (absolute; about 0.2% of the committed 0.054). Measured: below 1e-7."""


def prediction_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float] | None:
    """Where one more seed's value falls with probability ``level`` (normal errors):
    ``mean ± t_{(1+level)/2, n-1} · s · sqrt(1 + 1/n)``, s the sample standard deviation.
    None with fewer than two values (no spread to go on)."""
    from scipy import stats

    n = len(values)
    if n < 2:
        return None
    centre = sum(values) / n
    spread = math.sqrt(sum((v - centre) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * spread * math.sqrt(1 + 1 / n)
    return centre - half, centre + half


@dataclass(frozen=True)
class Check:
    """One comparison: what, the fresh value, what it was held to, and the verdict."""

    subject: str
    value: float | None
    expected: str
    ok: bool | None
    """None: nothing to hold it to (one committed seed, a missing figure, another spec)."""


def _close(a: float | None, b: float | None, tolerance: float) -> bool:
    return a is not None and b is not None and abs(a - b) <= tolerance


def base_checks(fresh: RunResult, committed: RunResult) -> list[Check]:
    """Every task of every role: greedy accuracy exactly, avg@k, pass@k and NLL within tolerance."""
    checks = []
    for role, committed_role in committed.metrics.items():
        fresh_role = fresh.metrics.get(role)
        for task, want in committed_role.tasks.items():
            got = fresh_role.tasks.get(task) if fresh_role is not None else None
            subject = f"base {role} {task}"
            if got is None:
                checks.append(Check(f"{subject} accuracy", None, f"= {want.accuracy:.4g}", False))
                continue
            checks.append(
                Check(
                    f"{subject} accuracy",
                    got.accuracy,
                    f"= {want.accuracy:.4g}",
                    got.accuracy == want.accuracy,
                )
            )
            for name, tolerance in (("avg_at_k", SAMPLED_TOLERANCE), ("pass_at_k", SAMPLED_TOLERANCE)):
                expected = getattr(want, name)
                if expected is not None:
                    value = getattr(got, name)
                    ok = _close(value, expected, tolerance)
                    checks.append(Check(f"{subject} {name}", value, f"{expected:.4g} ± {tolerance:g}", ok))
            if want.nll is not None:
                ok = _close(got.nll, want.nll, NLL_TOLERANCE)
                checks.append(Check(f"{subject} nll", got.nll, f"{want.nll:.4g} ± {NLL_TOLERANCE:g}", ok))
    return checks


def role_values(run: RunResult, base: RunResult | None) -> dict[str, float]:
    """In-domain and out-of-domain accuracy, and forgetting as base minus tuned (needs ``base``)."""
    values = {role: run.metrics[role].score for role in ROLES[:2] if role in run.metrics}
    if base is not None and "forgetting" in run.metrics and "forgetting" in base.metrics:
        values["forgetting"] = base.metrics["forgetting"].score - run.metrics["forgetting"].score
    return values


def run_checks(
    fresh: Sequence[RunResult],
    committed: Sequence[RunResult],
    fresh_base: RunResult | None,
    committed_base: RunResult | None,
) -> list[Check]:
    """Each fresh ok run against the prediction interval of its method's committed ok seeds.

    A fresh run whose seed is committed under another run id has another spec: not comparable.
    """
    by_method: dict[str, list[RunResult]] = defaultdict(list)
    for run in committed:
        if run.status == "ok":
            by_method[run.method].append(run)
    checks = []
    for run in sorted(fresh, key=lambda r: r.run_id):
        if run.status != "ok":
            checks.append(Check(f"{run.run_id}", None, "status ok", False))
            continue
        seeds = by_method.get(run.method, [])
        same_seed = [c for c in seeds if c.seed == run.seed]
        if same_seed and all(c.run_id != run.run_id for c in same_seed):
            checks.append(Check(f"{run.run_id}", None, f"the spec of {same_seed[0].run_id}", None))
            continue
        committed_values = [role_values(c, committed_base) for c in seeds]
        for role, value in role_values(run, fresh_base).items():
            interval = prediction_interval([v[role] for v in committed_values if role in v])
            if interval is None:
                checks.append(Check(f"{run.run_id} {role}", value, "two committed seeds or more", None))
                continue
            low, high = interval
            checks.append(
                Check(f"{run.run_id} {role}", value, f"[{low:.4f}, {high:.4f}]", low <= value <= high)
            )
    return checks


def render_checks(checks: Sequence[Check]) -> str:
    """One line per check, then a count; ``ok``, ``DIFFERS`` or ``-`` (not checkable)."""
    width = max((len(check.subject) for check in checks), default=0)
    lines = []
    for check in checks:
        verdict = "-" if check.ok is None else "ok" if check.ok else "DIFFERS"
        value = "missing" if check.value is None else f"{check.value:.4f}"
        lines.append(f"{check.subject:<{width}}  {value:>8}  {check.expected:<24}  {verdict}")
    failed = sum(check.ok is False for check in checks)
    unchecked = sum(check.ok is None for check in checks)
    lines.append(f"{len(checks) - failed - unchecked} ok, {failed} differ, {unchecked} not checkable")
    return "\n".join(lines)


def _describe(result: RunResult | None) -> str:
    if result is None:
        return "no base evaluation"
    env = result.environment
    world = (env.world.get("hash") or env.world.get("revision") or "unknown")[:12] if env else "not recorded"
    cpu = env.hardware.cpu if env is not None and env.hardware.cpu else "CPU not recorded"
    return f"world {world}, {cpu}, transformers {result.versions.get('transformers', '?')}"


def verify(suite: str, fresh_dir: Path, committed_dir: Path) -> tuple[str, bool]:
    """Compares ``fresh_dir/<suite>`` with ``committed_dir/<suite>``; returns (report, all ok)."""
    from peft_rlvr_bench.reporting.leaderboard import load_suite_results

    fresh_base, fresh_runs = load_suite_results(fresh_dir / suite)
    if fresh_base is None and not fresh_runs:
        raise UserError(
            f"--results-dir {fresh_dir}: no results of suite {suite} under {fresh_dir / suite}; "
            f"run `prb run {suite} --results-dir {fresh_dir}` first"
        )
    committed_base, committed_runs = load_suite_results(committed_dir / suite)
    if committed_base is None and not committed_runs:
        raise UserError(
            f"--against {committed_dir}: no results of suite {suite} under {committed_dir / suite}"
        )
    checks = []
    if fresh_base is not None and committed_base is not None:
        checks += base_checks(fresh_base, committed_base)
    checks += run_checks(fresh_runs, committed_runs, fresh_base, committed_base)
    report = [
        f"fresh:     {fresh_dir / suite} ({_describe(fresh_base)})",
        f"committed: {committed_dir / suite} ({_describe(committed_base)})",
        render_checks(checks),
    ]
    return "\n".join(report), not any(check.ok is False for check in checks)
