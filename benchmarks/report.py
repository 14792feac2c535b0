"""The tables of benchmarks/RESULTS.md, from a ``make bench`` run's JSON.

    .venv/bin/python benchmarks/report.py            # print every table (markdown)
    .venv/bin/python benchmarks/report.py --write    # also replace the generated blocks of RESULTS.md
    .venv/bin/python benchmarks/report.py --plot     # also redraw benchmarks/extrapolation_scaling.png

Reads ``benchmarks/latest.json`` (``make bench``) and, when present, ``benchmarks/latest-suite.json``
(``make bench-suite``). In RESULTS.md each table sits between ``<!-- report:NAME -->`` and
``<!-- /report:NAME -->``; ``--write`` replaces what is between the two and nothing else, so
the prose around a table is kept (and must be reread when the figures move).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"

Bench = dict[str, Any]


def _load(path: Path) -> list[Bench]:
    return json.loads(path.read_text())["benchmarks"] if path.is_file() else []


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return "_(not in this run)_"
    align = ["---" if i == 0 else "--:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _f(value: Any, spec: str = ".3g", scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, spec)


def _select(benches: list[Bench], module: str) -> list[Bench]:
    return [b for b in benches if b["fullname"].startswith(f"benchmarks/{module}.py::")]


# Tables -----------------------------------------------------------------------------------------


def _interval(low: Any, high: Any) -> str:
    return "-" if low is None or high is None else f"{low:.3f} to {high:.3f}"


def harness_overhead(benches: list[Bench]) -> str:
    rows = []
    for b in _select(benches, "test_harness_overhead"):
        info = b["extra_info"]
        for case in ("bare-trl", "harness", "bare-trl-plain-reward"):
            rows.append(
                [
                    info["adapter"],
                    case,
                    _f(info.get(f"{case}_mean_step_seconds"), ".1f", 1e3),
                    _f(info.get(f"{case}_median_step_seconds"), ".1f", 1e3),
                    _f(info.get(f"{case}_over_bare"), ".3f"),
                    _interval(info.get(f"{case}_over_bare_t_low"), info.get(f"{case}_over_bare_t_high")),
                    _interval(info.get(f"{case}_over_bare_bca_low"), info.get(f"{case}_over_bare_bca_high")),
                ]
            )
    header = [
        "adapter",
        "case",
        "mean update ms",
        "median update ms",
        "/ bare (paired)",
        "95% t interval",
        "95% BCa interval",
    ]
    return _table(header, rows)


GOAL = 1.03
"""Harness / bare TRL, at most (issue 9)."""
RULED_OUT = 1.05
"""An interval must exclude this to tell the harness from the old 1.05-1.11 figures."""


def harness_verdict(benches: list[Bench]) -> str:
    """Per adapter, the two ratios with their intervals and whether the goal is met: harness over
    bare TRL with a plain reward (everything the harness adds, its reward guard included) decides;
    over bare TRL with the harness's guarded reward (the harness less its guard) is shown beside it."""
    lines = []
    for b in _select(benches, "test_harness_overhead"):
        info = b["extra_info"]
        pairs = f"{info['rounds']} interleaved pairs of {info['updates']} timed updates"
        parts = []
        for key, what in (("harness_over_plain", "plain reward"), ("harness_over_bare", "guarded reward")):
            ratio, low, high = (info.get(f"{key}{k}") for k in ("", "_t_low", "_t_high"))
            if ratio is None:
                continue
            bca = _interval(info.get(f"{key}_bca_low"), info.get(f"{key}_bca_high"))
            t = (
                "too few pairs for an interval"
                if high is None
                else f"95% t {low:.3f} to {high:.3f}, BCa {bca}"
            )
            parts.append((key, ratio, high, f"harness / bare TRL ({what}) {ratio:.3f} ({t})"))
        if not parts:
            continue
        _, ratio, high, _ = parts[0]
        if high is None:
            verdict = "too few pairs to judge"
        else:
            # The criterion: the estimate at or below the goal, its interval clear of 1.05.
            met = "**met**" if ratio <= GOAL and high < RULED_OUT else "**missed**"
            excludes = "excludes" if high < RULED_OUT else "does not exclude"
            verdict = f"goal <= {GOAL} {met}; the interval {excludes} {RULED_OUT}"
        lines.append(f"- {info['adapter']}: " + "; ".join(p[3] for p in parts) + f"; {pairs}: {verdict}.")
    return "\n".join(lines) or "_(not in this run)_"


def trajectory_recording(benches: list[Bench]) -> str:
    found = _select(benches, "test_trajectory_recording")
    none = {b["params"]["adapter_name"]: b["stats"]["mean"] for b in found if b["params"]["record"] is None}
    names = {None: "no recording", False: "inline, every update", True: "background, every update"}
    rows = []
    for b in found:
        info, adapter = b["extra_info"], b["params"]["adapter_name"]
        wall_ratio = b["stats"]["mean"] / none[adapter] if adapter in none else None
        rows.append(
            [
                adapter,
                names[b["params"]["record"]],
                _f(info.get("mean_update_seconds"), ".1f", 1e3),
                _f(info.get("mean_record_seconds"), ".1f", 1e3),
                _f(info.get("record_over_update"), ".0%"),
                _f(wall_ratio, ".2f"),
                _f(info.get("bytes_ratio"), ".4f"),
            ]
        )
    header = [
        "adapter",
        "case",
        "update ms",
        "record ms",
        "record / update",
        "wall / none",
        "bytes / trainable",
    ]
    return _table(header, rows)


def _extrapolation_rows(benches: list[Bench]) -> list[dict[str, Any]]:
    return [b["extra_info"] for b in _select(benches, "test_extrapolation_scaling")]


def _extrapolation_table(rows: list[dict[str, Any]], vary: str) -> str:
    """One row per (size, T), a seconds and a memory column per method."""
    methods = sorted({r["method"] for r in rows}, key=["relex", "alpharl", "linear"].index)
    by_case: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_case.setdefault((r["size"], r["checkpoints"]), {})[r["method"]] = r
    if vary == "T":
        sizes = {r["size"] for r in rows}
        size = max(sizes, key=lambda s: sum(1 for r in rows if r["size"] == s))
        keys = sorted(k for k in by_case if k[0] == size)
    else:
        t_counts = {k[1] for k in by_case}
        common_t = max(t_counts, key=lambda t: sum(1 for k in by_case if k[1] == t))
        keys = sorted((k for k in by_case if k[1] == common_t), key=lambda k: _params(by_case[k]))
    header = ["size", "T"] + [f"{m} s" for m in methods] + [f"{m} MB" for m in methods]
    table = []
    for key in keys:
        cases = by_case[key]
        table.append(
            [key[0], key[1]]
            + [_f(cases.get(m, {}).get("seconds"), ".2f") for m in methods]
            + [_f(cases.get(m, {}).get("added_anon_mb"), ".0f") for m in methods]
        )
    return _table(header, table)


def _params(cases: dict[str, dict[str, Any]]) -> int:
    return next(iter(cases.values()))["params"]


def extrapolation_vs_t(benches: list[Bench]) -> str:
    rows = _extrapolation_rows(benches)
    return _extrapolation_table(rows, "T") if rows else _table([], [])


def extrapolation_vs_d(benches: list[Bench]) -> str:
    rows = _extrapolation_rows(benches)
    return _extrapolation_table(rows, "d") if rows else _table([], [])


def extrapolation_all(benches: list[Bench]) -> str:
    rows = []
    for r in _extrapolation_rows(benches):
        rows.append(
            [
                r["size"],
                f"{r['params'] / 1e6:.1f}M",
                f"{r['largest_tensor'] * 4 / 2**20:.1f}",
                r["checkpoints"],
                r["method"],
                _f(r["seconds"], ".2f"),
                _f(r["added_anon_mb"], ".0f"),
                _f(r["added_rss_mb"], ".0f"),
                _f(r["peak_rss_mb"], ".0f"),
            ]
        )
    header = ["size", "params", "largest tensor MB", "T", "method", "s", "+anon MB", "+RSS MB", "peak RSS MB"]
    return _table(header, rows)


def analyze_scaling(benches: list[Bench]) -> str:
    rows = []
    for b in _select(benches, "test_geometry_scaling"):
        if not b["name"].startswith("test_analyze"):
            continue
        info = b["extra_info"]
        rows.append(
            [
                info["size"],
                f"{info['params'] / 1e6:.1f}M",
                info["block_matrices"],
                _f(info["seconds"], ".2f"),
                _f(info["seconds"] / info["block_matrices"], ".3f"),
                _f(info["added_anon_mb"], ".0f"),
                _f(info["added_rss_mb"], ".0f"),
            ]
        )
    return _table(["size", "params", "block matrices", "s", "s / matrix", "+anon MB", "+RSS MB"], rows)


def decompose_scaling(benches: list[Bench]) -> str:
    found = [b for b in _select(benches, "test_geometry_scaling") if b["name"].startswith("test_decompose")]
    full = {b["params"]["hidden"]: b["stats"]["mean"] for b in found if b["params"]["method"] == "full"}
    rows = []
    for b in found:
        info, hidden = b["extra_info"], b["params"]["hidden"]
        speedup = full[hidden] / b["stats"]["mean"] if hidden in full else None
        rows.append(
            [
                "x".join(str(s) for s in info["shape"]),
                b["params"]["method"],
                _f(b["stats"]["mean"], ".3f"),
                _f(speedup, ".1f") + "x" if speedup else "-",
                _f(info.get("top_values_max_rel_error"), ".1e"),
                _f(info.get("spectrum_rel_error"), ".1e"),
                _f(info.get("top16_left_angle_deg"), ".2g"),
                _f(info.get("top64_left_angle_deg"), ".2g"),
            ]
        )
    header = [
        "shape",
        "method",
        "s",
        "full / this",
        "top-64 sigma err",
        "spectrum err",
        "angle@16 deg",
        "angle@64 deg",
    ]
    return _table(header, rows)


def evaluation_throughput(benches: list[Bench]) -> str:
    rows = []
    for b in _select(benches, "test_evaluation_throughput"):
        info = b["extra_info"]
        label = "overhead (8 items/task)" if b["params"]["batch_size"] == "overhead" else info["batch_size"]
        rows.append(
            [
                label,
                info["items"],
                _f(b["stats"]["mean"], ".2f"),
                _f(info["items_per_second"], ".0f"),
                _f(info.get("items_per_second_net"), ".0f"),
            ]
        )
    return _table(["batch size", "items", "s", "items/s", "items/s less overhead"], rows)


def suite_walltime(benches: list[Bench]) -> str:
    rows = []
    for b in _select(benches, "test_suite_walltime"):
        info = b["extra_info"]
        phases = info["phase_seconds"]
        rows += [
            ["suite", f"{info['suite']}: {info['methods']} methods x {info['seeds']} seeds"],
            ["updates per run", info["updates"]],
            ["runs (status)", ", ".join(f"{n} {s}" for s, n in info["statuses"].items())],
            ["wall time", f"{info['wall_seconds'] / 60:.1f} min"],
            ["world build (before the clock)", f"{info['world_build_seconds']:.0f} s"],
        ]
        rows += [[f"phase: {name}", f"{seconds:.0f} s"] for name, seconds in phases.items() if seconds]
        rows += [
            ["outside runs (start-up, planning, leaderboard)", f"{info['unaccounted_seconds']:.0f} s"],
            ["`prb leaderboard` alone", f"{info['leaderboard_seconds']:.1f} s"],
        ]
    return _table(["", "figure"], rows)


TABLES: dict[str, Callable[[list[Bench]], str]] = {
    "harness-overhead": harness_overhead,
    "harness-verdict": harness_verdict,
    "trajectory-recording": trajectory_recording,
    "extrapolation-vs-T": extrapolation_vs_t,
    "extrapolation-vs-d": extrapolation_vs_d,
    "extrapolation-all": extrapolation_all,
    "analyze-scaling": analyze_scaling,
    "decompose-scaling": decompose_scaling,
    "evaluation-throughput": evaluation_throughput,
    "suite-walltime": suite_walltime,
}


def machine(path: Path) -> str:
    if not path.is_file():
        return "_(no run)_"
    data = json.loads(path.read_text())
    info, commit = data["machine_info"], data.get("commit_info", {})
    cpu = info.get("cpu", {})
    dirty = " (dirty)" if commit.get("dirty") else ""
    return (
        f"{data['datetime'][:16]} UTC, {cpu.get('brand_raw', info.get('processor', '?'))}, "
        f"{cpu.get('count', '?')} cores, Python {info.get('python_version')}, "
        f"commit {str(commit.get('id', '?'))[:8]}{dirty}"
    )


# Plot -------------------------------------------------------------------------------------------


def plot_extrapolation(rows: list[dict[str, Any]], path: Path) -> Path:
    """Seconds and added memory against T (at the size with most T values) and against d (at the
    T most sizes share), one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = {r["size"] for r in rows}
    t_size = max(sizes, key=lambda s: len({r["checkpoints"] for r in rows if r["size"] == s}))
    t_counts = {r["checkpoints"] for r in rows}
    d_t = max(t_counts, key=lambda t: len({r["size"] for r in rows if r["checkpoints"] == t}))
    figure, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    for method in ("relex", "alpharl", "linear"):
        by_t = sorted((r["checkpoints"], r) for r in rows if r["method"] == method and r["size"] == t_size)
        by_d = sorted((r["params"], r) for r in rows if r["method"] == method and r["checkpoints"] == d_t)
        for column, series, x_of in ((0, by_t, lambda r: r["checkpoints"]), (1, by_d, lambda r: r["params"])):
            if not series:
                continue
            xs = [x_of(r) for _, r in series]
            axes[0][column].plot(xs, [r["seconds"] for _, r in series], marker="o", label=method)
            axes[1][column].plot(xs, [r["added_anon_mb"] for _, r in series], marker="o", label=method)
    by_size = sorted({(r["params"], r["size"]) for r in rows if r["checkpoints"] == d_t})
    if by_size:
        xs = [params for params, _ in by_size]
        axes[1][1].plot(xs, [4 * x / 2**20 for x in xs], "k--", lw=1, label="the predicted state (4 B x d)")
        axes[1][1].legend()
    axes[1][0].set_ylim(bottom=0)
    for row in (0, 1):
        axes[row][1].set_xscale("log")
        axes[row][1].set_yscale("log")
        axes[row][0].set_xscale("log", base=2)
    axes[0][0].set_title(f"against checkpoints T ({t_size} parameters)")
    axes[0][1].set_title(f"against parameters d (T = {d_t})")
    for column in (0, 1):
        axes[0][column].set_ylabel("seconds")
        axes[1][column].set_ylabel("peak allocated memory, MB (+RssAnon)")
    axes[1][0].set_xlabel("checkpoints T")
    axes[1][1].set_xlabel("parameters d")
    axes[0][0].legend()
    figure.suptitle("prb extrapolate: time and peak memory (one process per case)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# Main -------------------------------------------------------------------------------------------


def render(benches: list[Bench]) -> dict[str, str]:
    return {name: table(benches) for name, table in TABLES.items()}


def write_results(tables: dict[str, str], path: Path = RESULTS) -> list[str]:
    """Replaces each ``<!-- report:NAME -->`` block of ``path``; returns the names replaced."""
    text = path.read_text()
    replaced = []
    for name, table in tables.items():
        pattern = re.compile(
            rf"(<!-- report:{re.escape(name)} -->\n)(?:.*?\n)?(<!-- /report:{re.escape(name)} -->)", re.S
        )
        text, count = pattern.subn(lambda m, t=table: m.group(1) + t + "\n" + m.group(2), text)
        if count:
            replaced.append(name)
    path.write_text(text)
    return replaced


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=HERE / "latest.json")
    parser.add_argument("--suite-json", type=Path, default=HERE / "latest-suite.json")
    parser.add_argument("--write", action="store_true", help="replace the generated blocks of RESULTS.md")
    parser.add_argument("--plot", action="store_true", help="redraw the extrapolation plot")
    args = parser.parse_args(argv)
    benches = _load(args.json) + _load(args.suite_json)
    if not benches:
        print(f"no benchmarks in {args.json} or {args.suite_json}; run `make bench`", file=sys.stderr)
        return 1
    tables = render(benches)
    tables["machine"] = machine(args.json)
    for name, table in tables.items():
        print(f"### {name}\n\n{table}\n")
    if args.write:
        print("replaced in RESULTS.md:", ", ".join(write_results(tables)) or "nothing")
    if args.plot:
        rows = _extrapolation_rows(benches)
        if rows:
            print("wrote", plot_extrapolation(rows, HERE / "extrapolation_scaling.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
