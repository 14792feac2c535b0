"""The selection stage's record: each candidate's evidence, the rule, and the value it chose.

Pure functions over run results: a candidate's score is its mean ``select.metric`` accuracy over
the selection seeds, on validation items (drawn from the train split, never an eval item), with
a 95% interval (seeds x items with two or more seeds, items alone with one: ``stats.intervals``).
The rule is fixed and recorded with every choice: the highest mean wins, and a tie goes to the
lower value (the first point of the sorted grid), so a choice never depends on the order in
which candidates finished.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from peft_rlvr_bench.reporting.results import RunResult
from peft_rlvr_bench.reporting.stats.intervals import crossed_interval, items_interval

RULE = "highest mean selection accuracy over the selection seeds; a tie goes to the lower value"


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Candidate(Record):
    """One grid point of one adapter entry: its runs on the selection seeds and their scores."""

    label: str
    values: dict[str, Any]
    run_ids: list[str]
    seeds: list[int]
    status: list[str]
    per_seed: list[float | None]
    score: float | None = None
    """Mean selection accuracy over the seeds; None unless every seed's run finished ok."""
    low: float | None = None
    high: float | None = None
    interval: str | None = None
    items_digest: dict[str, str] = {}
    """Per task, the digest of the validation items scored (the same for every candidate)."""


class EntryChoice(Record):
    index: int
    label: str
    fields: list[str]
    chosen: dict[str, Any]
    chosen_label: str
    candidates: list[Candidate]


class SelectionRecord(Record):
    """``results/<suite>/selection/choice.json``: what was chosen, how, and on what evidence."""

    suite: str
    rule: str = RULE
    metric: str
    tasks: list[str]
    split: str
    items: int
    seeds: list[int]
    max_steps: int
    entries: list[EntryChoice]

    def chosen(self) -> dict[int, dict[str, Any]]:
        """``{adapter entry index: chosen point}``."""
        return {entry.index: entry.chosen for entry in self.entries}


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def candidate(label: str, values: dict[str, Any], results: Sequence[RunResult]) -> Candidate:
    """A candidate's evidence from its runs' results (one per selection seed), scored on the
    ``in_domain`` role of the stage, which holds the ``select.metric`` tasks."""
    ok = [r for r in results if r.status == "ok" and "in_domain" in r.metrics]
    per_seed = [r.metrics["in_domain"].score if r in ok else None for r in results]
    fields: dict[str, Any] = {
        "label": label,
        "values": values,
        "run_ids": [r.run_id for r in results],
        "seeds": [r.seed for r in results],
        "status": [r.status for r in results],
        "per_seed": per_seed,
    }
    if not results or len(ok) < len(results):
        return Candidate(**fields)
    roles = [r.metrics["in_domain"] for r in ok]
    tasks = sorted(roles[0].tasks)
    fields["score"] = float(np.mean([role.score for role in roles]))
    fields["items_digest"] = {t: roles[0].tasks[t].items_digest or "" for t in tasks}
    if any(role.tasks[t].items is None for role in roles for t in tasks):
        return Candidate(**fields)  # no per-item scores: no interval
    tables = [np.array([role.tasks[t].items for role in roles], dtype=float) for t in tasks]
    interval = crossed_interval(tables) if len(ok) > 1 else items_interval([table[0] for table in tables])
    return Candidate(**fields, low=_finite(interval.low), high=_finite(interval.high), interval=interval.kind)


def choose(candidates: Sequence[Candidate]) -> int | None:
    """The index of the winning candidate under ``RULE``; None when none has a score."""
    scored = [(i, c) for i, c in enumerate(candidates) if c.score is not None]
    if not scored:
        return None

    def key(item: tuple[int, Candidate]) -> tuple[float, tuple[float, ...]]:
        score = item[1].score
        assert score is not None
        # Equal means: the lower values win (negated, so max() prefers them).
        return score, tuple(-float(v) for v in item[1].values.values())

    return max(scored, key=key)[0]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def selection_markdown(record: SelectionRecord) -> str:
    """``results/<suite>/selection.md``: one table per swept entry, the winner in bold."""
    lines = [
        f"# {record.suite}: selection",
        "",
        f"Each swept adapter entry trained one candidate per grid point on seeds "
        f"{', '.join(map(str, record.seeds))} ({record.max_steps} updates), scored by greedy "
        f"{record.metric} accuracy on {record.items} {record.split} items per task "
        f"({', '.join(record.tasks)}); none of them is an evaluation item. Rule: {record.rule}. "
        "The comparison runs each entry at its chosen values.",
        "",
    ]
    for entry in record.entries:
        lines += [
            f"## {entry.label}: {', '.join(f'{k} = {v:g}' for k, v in entry.chosen.items())}",
            "",
            f"| {' | '.join(entry.fields)} | score | 95% interval | per seed | runs |",
            f"|{'--:|' * len(entry.fields)}--:|:--|:--|:--|",
        ]
        for item in entry.candidates:
            bold = "**" if item.label == entry.chosen_label else ""
            values = " | ".join(f"{bold}{item.values[f]:g}{bold}" for f in entry.fields)
            interval = f"[{_number(item.low)}, {_number(item.high)}]" if item.low is not None else "-"
            seeds = ", ".join(
                f"s{seed}: {_number(score)}" + ("" if status == "ok" else f" ({status})")
                for seed, score, status in zip(item.seeds, item.per_seed, item.status, strict=True)
            )
            runs = ", ".join(f"`{run_id}`" for run_id in item.run_ids)
            lines.append(f"| {values} | {bold}{_number(item.score)}{bold} | {interval} | {seeds} | {runs} |")
        edges = grid_edges(entry.candidates, entry.chosen)
        if edges:
            lines += [
                "",
                f"Chosen at the {' and '.join(edges)} of its grid: a value beyond it was not tried, so this "
                "entry may be under-tuned; extend the grid past it.",
            ]
        lines.append("")
    return "\n".join(lines)


def grid_edges(candidates: Sequence[Candidate], chosen: dict[str, Any]) -> list[str]:
    """Which grid edges the chosen point sits on, per swept field with more than one value:
    e.g. ``["top of lr"]``; empty when every chosen value has a tried value on either side."""
    edges = []
    for field, value in chosen.items():
        tried = sorted({item.values[field] for item in candidates})
        if len(tried) < 2:
            continue
        if value == tried[-1]:
            edges.append(f"top of {field}")
        elif value == tried[0]:
            edges.append(f"bottom of {field}")
    return edges
