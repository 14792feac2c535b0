"""The leaderboard: a pure function of a suite's result files, written as Markdown and CSV.

Only ``ok`` runs reach the table; every other run is listed under it with its reason, so a
failure is visible without polluting the means. Scores are greedy accuracies in [0, 1]; the
Markdown shows them in percent, the CSV keeps the raw fractions.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.reporting.plots import plot_learning_curves
from peft_rlvr_bench.reporting.results import RunResult, load_result, write_text_atomic
from peft_rlvr_bench.reporting.stats import bootstrap_ci, mean

NAN = float("nan")

CSV_COLUMNS = (
    "method",
    "n_seeds",
    "in_domain",
    "in_domain_ci_low",
    "in_domain_ci_high",
    "out_of_domain",
    "out_of_domain_ci_low",
    "out_of_domain_ci_high",
    "forgetting",
    "forgetting_ci_low",
    "forgetting_ci_high",
    "trainable_params",
    "train_seconds",
    "learning_rate",
    "updates",
    "steps_saved",
)


@dataclass(frozen=True)
class GeometryColumn:
    """A headline weight-geometry column (METHODS.md §3), read from ``RunResult.geometry``.

    These are diagnostics, not scores: ``direction`` says what a higher value means, not which
    is better, and no table is sorted by them.
    """

    name: str
    """The Row field and the CSV column."""
    header: str
    path: tuple[str, ...]
    """Keys into ``RunResult.geometry``."""
    direction: str
    description: str
    percent: bool = False


GEOMETRY_COLUMNS = (
    GeometryColumn(
        "update_sparsity",
        "Unchanged %",
        ("headline", "update_sparsity"),
        "higher: fewer coordinates changed (RLVR 36-92% in arXiv 2511.08567, SFT 0.6-18.8%)",
        "bf16 update sparsity: share of block-matrix coordinates whose stored bf16 value is bitwise W0's",
        percent=True,
    ),
    GeometryColumn(
        "top1_energy_share",
        "Top-1 share",
        ("headline", "means", "top1_energy_share"),
        "higher: the update is closer to rank 1",
        "sigma_1(dW)^2 / ||dW||_F^2, mean over block matrices",
    ),
    GeometryColumn(
        "spectral_shift",
        "Spectral shift",
        ("headline", "means", "spectral_shift"),
        "higher: the singular values moved more",
        "||sigma(W+) - sigma(W0)|| / ||sigma(W0)||, mean over block matrices",
    ),
    GeometryColumn(
        "principal_angle_16",
        "Angle@16",
        ("headline", "means", "principal_angle_left_deg@16"),
        "higher: the top-16 singular subspace rotated more",
        "largest principal angle (degrees) between the top-16 left singular subspaces of W0 and W+, "
        "mean over block matrices",
    ),
)
"""Shown (Markdown and CSV) only when at least one ok run of the table has a geometry summary."""

MARKDOWN_NAME = "leaderboard.md"
CSV_NAME = "leaderboard.csv"


@dataclass(frozen=True)
class Row:
    """One leaderboard line: a method's means over its ok seeds, with 95% bootstrap CIs."""

    method: str
    n_seeds: int
    in_domain: float
    in_domain_ci_low: float
    in_domain_ci_high: float
    out_of_domain: float
    out_of_domain_ci_low: float
    out_of_domain_ci_high: float
    forgetting: float
    forgetting_ci_low: float
    forgetting_ci_high: float
    trainable_params: int
    train_seconds: float
    learning_rate: float | None
    updates: float | None = None
    """RL updates the row's checkpoints cost: the budget, or an extrapolation's observed window."""
    steps_saved: float | None = None
    """Extrapolations: updates the real run needed to match them, minus ``updates`` (mean)."""
    not_ok: int = 0
    geometry_runs: int = 0
    """Seeds with a geometry summary; the geometry fields are means over them (None without)."""
    update_sparsity: float | None = None
    top1_energy_share: float | None = None
    spectral_shift: float | None = None
    principal_angle_16: float | None = None


# Loading -------------------------------------------------------------------------------------


def _load_one(path: Path) -> RunResult:
    try:
        return load_result(path)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        detail = f"{where}: {first['msg']}" if where else first["msg"]
        raise UserError(f"{path}: not a valid run result ({detail}); delete it and rerun the suite") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it ({exc}); delete it and rerun the suite") from exc


def load_suite_results(suite_dir: Path) -> tuple[RunResult | None, list[RunResult]]:
    """Loads ``suite_dir/base.json`` (None if absent) and every ``suite_dir/runs/*.json``.

    Runs come back sorted by file name so that everything downstream is order-independent.
    Raises UserError naming the first file that does not parse.
    """
    base_path = suite_dir / "base.json"
    base = _load_one(base_path) if base_path.is_file() else None
    runs_dir = suite_dir / "runs"
    paths = sorted(runs_dir.glob("*.json")) if runs_dir.is_dir() else []
    return base, [_load_one(path) for path in paths]


# Tabulation (pure) ---------------------------------------------------------------------------


def _score(result: RunResult, role: str) -> float | None:
    role_score = result.metrics.get(role)
    return None if role_score is None else role_score.score


def _summary(values: Sequence[float]) -> tuple[float, float, float]:
    low, high = bootstrap_ci(values)
    return mean(values), low, high


def _learning_rate(runs: Iterable[RunResult]) -> float | None:
    rates = set()
    for run in runs:
        adapter = run.spec.get("adapter")
        rate = adapter.get("lr") if isinstance(adapter, dict) else None
        rates.add(None if rate is None else float(rate))
    # One label should pin one learning rate; if its seeds disagree, any single number would lie.
    return rates.pop() if len(rates) == 1 else None


def _base_row(base: RunResult) -> Row:
    forgetting = _score(base, "forgetting")
    in_domain = _score(base, "in_domain")
    out_of_domain = _score(base, "out_of_domain")
    return Row(
        method="base",
        # A single greedy evaluation of a fixed model: there is nothing to resample.
        n_seeds=1,
        in_domain=NAN if in_domain is None else in_domain,
        in_domain_ci_low=NAN,
        in_domain_ci_high=NAN,
        out_of_domain=NAN if out_of_domain is None else out_of_domain,
        out_of_domain_ci_low=NAN,
        out_of_domain_ci_high=NAN,
        forgetting=NAN if forgetting is None or math.isnan(forgetting) else 0.0,
        forgetting_ci_low=NAN,
        forgetting_ci_high=NAN,
        trainable_params=0,
        train_seconds=0.0,
        learning_rate=None,
        not_ok=0,
    )


def _method_row(method: str, ok: list[RunResult], n_not_ok: int, base: RunResult | None) -> Row:
    base_forgetting = None if base is None else _score(base, "forgetting")
    in_domain = [s for s in (_score(r, "in_domain") for r in ok) if s is not None]
    out_of_domain = [s for s in (_score(r, "out_of_domain") for r in ok) if s is not None]
    forgetting: list[float] = []
    if base_forgetting is not None:
        forgetting = [base_forgetting - s for s in (_score(r, "forgetting") for r in ok) if s is not None]
    id_mean, id_low, id_high = _summary(in_domain)
    ood_mean, ood_low, ood_high = _summary(out_of_domain)
    fg_mean, fg_low, fg_high = _summary(forgetting)
    return Row(
        method=method,
        n_seeds=len(ok),
        in_domain=id_mean,
        in_domain_ci_low=id_low,
        in_domain_ci_high=id_high,
        out_of_domain=ood_mean,
        out_of_domain_ci_low=ood_low,
        out_of_domain_ci_high=ood_high,
        forgetting=fg_mean,
        forgetting_ci_low=fg_low,
        forgetting_ci_high=fg_high,
        trainable_params=max(r.trainable_params for r in ok),
        train_seconds=mean([r.timings["train"] for r in ok if "train" in r.timings]),
        learning_rate=_learning_rate(ok),
        updates=_mean_or_none([u for u in map(_updates, ok) if u is not None]),
        steps_saved=_mean_or_none([r.extrapolation["steps_saved"] for r in ok if _has_steps_saved(r)]),
        not_ok=n_not_ok,
        geometry_runs=sum(r.geometry is not None for r in ok),
        **{
            column.name: _mean_or_none([v for v in (_geometry_value(r, column) for r in ok) if v is not None])
            for column in GEOMETRY_COLUMNS
        },
    )


def _geometry_value(run: RunResult, column: GeometryColumn) -> float | None:
    value: object = run.geometry
    for key in column.path:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _updates(run: RunResult) -> float | None:
    if run.extrapolation is not None:
        return float(run.extrapolation["updates_used"])
    steps = run.spec.get("budget", {}).get("max_steps")
    return None if steps is None else float(steps)


def _mean_or_none(values: list[float]) -> float | None:
    return mean(values) if values else None


def _has_steps_saved(run: RunResult) -> bool:
    return run.extrapolation is not None and run.extrapolation.get("steps_saved") is not None


def leaderboard_rows(base: RunResult | None, runs: Sequence[RunResult]) -> list[Row]:
    """Returns the base row (if there is an ok base) and one row per method, best in-domain first.

    Only ``ok`` runs count; a method with no ok run gets no row (its runs appear in
    :func:`not_ok_runs`). Forgetting is base minus tuned on the forgetting role, per seed, so
    positive means forgotten; without a base it is nan.
    """
    if base is not None and base.status != "ok":
        base = None
    ok_by_method: dict[str, list[RunResult]] = defaultdict(list)
    not_ok_by_method: dict[str, int] = defaultdict(int)
    for run in runs:
        if run.status == "ok":
            ok_by_method[run.method].append(run)
        else:
            not_ok_by_method[run.method] += 1
    rows = []
    for method, ok in ok_by_method.items():
        # The bootstrap draws resample indices from a fixed seed, so the values' order must not
        # depend on how the files were listed.
        ok = sorted(ok, key=lambda r: (r.seed is None, r.seed or 0, r.run_id))
        rows.append(_method_row(method, ok, not_ok_by_method[method], base))
    # An extrapolated run's row sits right under the row of the run it was predicted from.
    source_of = {run.method: run.extrapolation["source_method"] for run in runs if run.extrapolation}
    in_domain = {row.method: row.in_domain for row in rows}

    def order(row: Row) -> tuple[bool, float, str, bool, str]:
        source = source_of.get(row.method, row.method)
        score = in_domain.get(source, row.in_domain)
        return (math.isnan(score), -score, source, row.method in source_of, row.method)

    rows.sort(key=order)
    return ([_base_row(base)] if base is not None else []) + rows


def not_ok_runs(runs: Iterable[RunResult | None]) -> list[tuple[str, str, str]]:
    """Returns ``(run_id, status, reason)`` for every run whose status is not ``ok``, by run id."""
    listed = [
        (run.run_id, run.status, " ".join((run.reason or "no reason recorded").split()))
        for run in runs
        if run is not None and run.status != "ok"
    ]
    return sorted(listed)


# Rendering -----------------------------------------------------------------------------------


def _is_missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def _csv_cell(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    # repr round-trips a float exactly, so the CSV loses nothing against the JSON files.
    return repr(value) if isinstance(value, float) else str(value)


def has_geometry(rows: Sequence[Row]) -> bool:
    return any(row.geometry_runs for row in rows)


def csv_columns(rows: Sequence[Row]) -> tuple[str, ...]:
    """:data:`CSV_COLUMNS`, plus the geometry columns when some row has geometry."""
    return CSV_COLUMNS + (tuple(c.name for c in GEOMETRY_COLUMNS) if has_geometry(rows) else ())


def render_csv(rows: Sequence[Row]) -> str:
    """Returns the rows as CSV with a :func:`csv_columns` header; nan and None are empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = csv_columns(rows)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(getattr(row, column)) for column in columns])
    return buffer.getvalue()


def _percent(value: float) -> str:
    # Adding 0.0 turns a rounded -0.0 into 0.0, which would otherwise read as a tiny loss.
    return f"{round(value * 100, 1) + 0.0:.1f}"


def _score_cell(value: float, low: float, high: float) -> str:
    if _is_missing(value):
        return "n/a"
    if _is_missing(low) or _is_missing(high):
        return _percent(value)
    return f"{_percent(value)} [{_percent(low)}, {_percent(high)}]"


def humanize_count(count: int) -> str:
    """Returns a parameter count as a short string: 950, 662.4k, 1.2M, 7.6B."""
    if count < 1000:
        return str(count)
    text = ""
    for scale, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T")):
        text = f"{count / scale:.1f}{suffix}"
        # Rounding can carry into the next unit (999_960 -> 1000.0k); prefer 1.0M then.
        if round(count / scale, 1) < 1000:
            break
    return text


def _lr_cell(rate: float | None) -> str:
    return "" if rate is None else f"{rate:g}"


def _seconds_cell(seconds: float) -> str:
    return "n/a" if _is_missing(seconds) else f"{seconds:.0f}"


def _count_cell(value: float | None) -> str:
    return "" if _is_missing(value) else f"{value:.0f}"


def _geometry_cell(value: float | None, column: GeometryColumn) -> str:
    if _is_missing(value):
        return "-"
    return _percent(value) if column.percent else f"{value:.3g}"


def render_markdown(suite: str, rows: Sequence[Row], not_ok: Sequence[tuple[str, str, str]]) -> str:
    """Returns the leaderboard as GitHub Markdown: a heading, a legend, the table, the left-out runs."""
    geometry = GEOMETRY_COLUMNS if has_geometry(rows) else ()
    legend = (
        "Accuracy in %, mean over seeds with its 95% bootstrap CI over seeds in brackets; "
        "forgetting is base minus tuned accuracy on the forgetting tasks (positive means forgotten)."
    )
    if geometry:
        legend += " Weight geometry against the base weights W0, mean over seeds (- where not measured): " + (
            "; ".join(f"{column.header}: {column.description}" for column in geometry) + "."
        )
    lines = [
        f"# Leaderboard: {suite}",
        "",
        legend,
        "",
        "| Method | Seeds | In-domain | Out-of-domain | Forgetting | Trainable params | LR | Train s "
        "| Updates | Steps saved |" + "".join(f" {column.header} |" for column in geometry),
        "|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|" + "--:|" * len(geometry),
    ]
    for row in rows:
        cells = [
            row.method.replace("|", "\\|"),
            str(row.n_seeds),
            _score_cell(row.in_domain, row.in_domain_ci_low, row.in_domain_ci_high),
            _score_cell(row.out_of_domain, row.out_of_domain_ci_low, row.out_of_domain_ci_high),
            _score_cell(row.forgetting, row.forgetting_ci_low, row.forgetting_ci_high),
            humanize_count(row.trainable_params),
            _lr_cell(row.learning_rate),
            _seconds_cell(row.train_seconds),
            _count_cell(row.updates),
            _count_cell(row.steps_saved),
            *(_geometry_cell(getattr(row, column.name), column) for column in geometry),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if not_ok:
        lines += ["", "Runs left out of the table (status not ok):", ""]
        lines += [f"- `{run_id}`: {status} ({reason})" for run_id, status, reason in not_ok]
    return "\n".join(lines) + "\n"


def write_leaderboard(
    suite_dir: Path, suite: str, current_run_ids: Collection[str] | None = None
) -> tuple[Path, Path]:
    """Writes ``leaderboard.md`` and ``leaderboard.csv`` into ``suite_dir`` and returns their paths.

    With ``current_run_ids``, result files of runs the suite no longer contains (an edited
    suite changes run ids) are left out of the table and counted under it.

    Raises UserError when the suite has no result files or one of them does not parse.
    """
    base, runs = load_suite_results(suite_dir)
    if base is None and not runs:
        raise UserError(f"no results under {suite_dir}; run `prb run suites/{suite}.yaml` first")
    stale = [] if current_run_ids is None else [r.run_id for r in runs if r.run_id not in current_run_ids]
    runs = [r for r in runs if r.run_id not in stale]
    rows = leaderboard_rows(base, runs)
    markdown = render_markdown(suite, rows, not_ok_runs([base, *runs]))
    if stale:
        markdown += (
            f"\n{len(stale)} result file(s) under `runs/` belong to an earlier version of the suite "
            f"and are left out: {', '.join(sorted(stale))}.\n"
        )
    plot = plot_learning_curves(suite, runs, suite_dir)
    if plot is not None:
        markdown += f"\n![accuracy against RL updates]({plot.name})\n"
    markdown_path, csv_path = suite_dir / MARKDOWN_NAME, suite_dir / CSV_NAME
    write_text_atomic(markdown_path, markdown)
    write_text_atomic(csv_path, render_csv(rows))
    return markdown_path, csv_path
