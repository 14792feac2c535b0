"""A suite's results as one tidy table: one row per run, task and metric.

Columns: ``suite, run_id, method, seed, status, learning_rate, role, task, metric, value, n``.
Per-task metrics (``accuracy``, ``avg_at_k``, ``pass_at_k``, ``nll``) carry their role and task;
run-level ones (``trainable_params``, ``total_params``, ``kl_to_base``, ``peak_memory_mb``,
``seconds_<phase>``) have an empty role and task. Written as Parquet when pyarrow is installed,
else CSV; both load with ``pandas`` and ``datasets`` (``docs/results.md``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from peft_rlvr_bench.reporting.atomic import user_file_mode, write_text_atomic
from peft_rlvr_bench.reporting.results import RunResult

COLUMNS = (
    "suite",
    "run_id",
    "method",
    "seed",
    "status",
    "learning_rate",
    "role",
    "task",
    "metric",
    "value",
    "n",
)
TASK_METRICS = ("accuracy", "avg_at_k", "pass_at_k", "nll")


def _learning_rate(result: RunResult) -> float | None:
    adapter = result.spec.get("adapter")
    rate = adapter.get("lr") if isinstance(adapter, dict) else None
    return float(rate) if isinstance(rate, int | float) else None


def tidy_rows(results: Iterable[RunResult]) -> list[dict[str, Any]]:
    """Every figure of ``results`` as one row (``COLUMNS``); missing figures have no row."""
    rows: list[dict[str, Any]] = []
    for result in results:
        head = {
            "suite": result.suite,
            "run_id": result.run_id,
            "method": result.method,
            "seed": result.seed,
            "status": result.status,
            "learning_rate": _learning_rate(result),
        }

        def add(
            role: str, task: str, metric: str, value: float | None, n: int | None, head: dict = head
        ) -> None:
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                rows.append({**head, "role": role, "task": task, "metric": metric, "value": value, "n": n})

        for role, scores in sorted(result.metrics.items()):
            for task, score in sorted(scores.tasks.items()):
                for metric in TASK_METRICS:
                    n = score.nll_items if metric == "nll" else score.n
                    add(role, task, metric, getattr(score, metric), n)
        add("", "", "trainable_params", float(result.trainable_params), None)
        if result.total_params:
            add("", "", "total_params", float(result.total_params), None)
        if result.kl_to_base is not None:
            add("", "", "kl_to_base", result.kl_to_base.token_mean, result.kl_to_base.n_items)
        add("", "", "peak_memory_mb", result.peak_memory_mb, None)
        for phase, seconds in sorted(result.timings.items()):
            add("", "", f"seconds_{phase}", seconds, None)
    return rows


def render_csv(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as CSV with a header; empty cells for None."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_tidy(rows: Sequence[dict[str, Any]], out: Path) -> Path:
    """Writes ``rows`` to ``out``: Parquet for a ``.parquet`` name (needs pyarrow), else CSV."""
    if out.suffix != ".parquet":
        write_text_atomic(out, render_csv(rows))
        return out
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("suite", pa.string()),
            ("run_id", pa.string()),
            ("method", pa.string()),
            ("seed", pa.int64()),
            ("status", pa.string()),
            ("learning_rate", pa.float64()),
            ("role", pa.string()),
            ("task", pa.string()),
            ("metric", pa.string()),
            ("value", pa.float64()),
            ("n", pa.int64()),
        ]
    )
    table = pa.Table.from_pylist(list(rows), schema=schema)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    pq.write_table(table, tmp)
    tmp.chmod(user_file_mode())
    tmp.replace(out)
    return out


def default_export_name(suite_dir: Path) -> Path:
    """``results/<suite>/results.parquet`` when pyarrow is installed, else ``results.csv``."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return suite_dir / "results.csv"
    return suite_dir / "results.parquet"
