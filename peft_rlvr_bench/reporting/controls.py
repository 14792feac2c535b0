"""Controls: does the harness find a difference that is there, and no difference that is not?

A suite marks an adapter entry as a control of another (``control: {kind, against}``):

- **negative**: the same configuration as ``against`` under another label, on disjoint seeds.
  Its runs are independent replicates of ``against``, so the paired test must not separate
  them; a separation means the intervals are too narrow or the runs are not reproducible.
- **positive**: a configuration known to be worse than ``against``. The paired test must
  separate it, in the right direction, at the suite's seeds; otherwise the suite is too small to
  tell methods apart, whatever its table says.

Each control is one test decided before the data were seen, so its p is not Holm-adjusted, and
the control arms stay out of the best-method family. Arms that share seeds are paired by seed;
a negative control has none in common with its reference by construction, so its runs are
paired in seed order: independent runs, so any fixed pairing gives a valid paired t.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from peft_rlvr_bench.reporting.best import per_seed
from peft_rlvr_bench.reporting.board import ControlResult, Pairing
from peft_rlvr_bench.reporting.metrics import Metric
from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats import RunItems, paired_comparison


def control_arms(runs: Iterable[RunResult]) -> dict[str, tuple[str, str]]:
    """``{arm label: (kind, against label)}`` of every control arm among ``runs``."""
    arms: dict[str, tuple[str, str]] = {}
    for run in runs:
        control = (run.spec.get("adapter") or {}).get("control") if run.extrapolation is None else None
        if control:
            arms[run.method] = (control["kind"], control["against"])
    return arms


def _by_seed_order(
    values: Mapping[int, float], items: Mapping[int, RunItems | None], n: int
) -> tuple[dict[int, float], dict[int, RunItems | None]]:
    """The first ``n`` seeds' values and item scores, keyed by position in seed order."""
    seeds = sorted(values)[:n]
    return {i: values[s] for i, s in enumerate(seeds)}, {i: items.get(s) for i, s in enumerate(seeds)}


def evaluate_controls(
    ok_by_method: Mapping[str, Sequence[RunResult]], metric: Metric
) -> tuple[ControlResult, ...]:
    """Every control arm against its reference on ``metric`` (module docstring)."""
    results = []
    runs = [run for method_runs in ok_by_method.values() for run in method_runs]
    for arm, (kind, against) in sorted(control_arms(runs).items()):
        if arm not in ok_by_method or against not in ok_by_method:
            continue
        arm_values, arm_items = per_seed(ok_by_method[arm], metric)
        ref_values, ref_items = per_seed(ok_by_method[against], metric)
        pairing: Pairing = "shared seeds"
        if len(set(arm_values) & set(ref_values)) < 2:
            pairing = "seed order"
            n = min(len(arm_values), len(ref_values))
            arm_values, arm_items = _by_seed_order(arm_values, arm_items, n)
            ref_values, ref_items = _by_seed_order(ref_values, ref_items, n)
        comparison = paired_comparison(ref_values, arm_values, ref_items, arm_items)
        results.append(ControlResult(kind, arm, against, comparison, pairing))  # type: ignore[arg-type]
    return tuple(results)
