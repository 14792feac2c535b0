"""The leaderboard as data: rows of cells, the columns shown and the best-method verdict.

Built by :mod:`~peft_rlvr_bench.reporting.leaderboard` from a suite's result files, decided by
:mod:`~peft_rlvr_bench.reporting.best` and rendered by :mod:`~peft_rlvr_bench.reporting.markdown`
(Markdown, CSV) and :mod:`~peft_rlvr_bench.reporting.html`, which all read these types and
none of which imports another's builder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from peft_rlvr_bench.reporting.details import TaskCell
from peft_rlvr_bench.reporting.metrics import Metric
from peft_rlvr_bench.reporting.stats import ALPHA, Aggregate, IntervalKind, PairedComparison

Pairing = Literal["shared seeds", "seed order"]
"""How a control arm's runs are paired with its reference's: by seed, or in seed order (disjoint seeds)."""

MARKDOWN_NAME = "leaderboard.md"
CSV_NAME = "leaderboard.csv"
HTML_NAME = "leaderboard.html"


@dataclass(frozen=True)
class Cell:
    """One metric of one row: the value over the row's seeds, its CI where the metric has one."""

    value: float | None = None
    """None: no seed of the row has the metric."""
    ci_low: float | None = None
    ci_high: float | None = None
    """95% interval of the mean (``kind`` says which); None with fewer than two seeds or no CI."""
    n: int = 0
    """Seeds with a value."""
    kind: IntervalKind | None = None
    """``t over seeds``, ``seeds x items`` or ``items`` (the base row); None without an interval."""
    pi_low: float | None = None
    pi_high: float | None = None
    """95% prediction interval of one new seed (same eval items): where a rerun should land."""


EMPTY = Cell()


@dataclass(frozen=True)
class Row:
    """One leaderboard line: a method's ok seeds summarised, one :class:`Cell` per metric."""

    method: str
    n_seeds: int
    cells: Mapping[str, Cell] = field(default_factory=dict)
    not_ok: int = 0
    """Runs of the method left out of the table (status not ok)."""
    derived: bool = False
    """An extrapolation's row (never the best method)."""
    best: bool = False
    """The best method on in-domain accuracy (module docstring)."""

    def __getitem__(self, name: str) -> Cell:
        return self.cells.get(name, EMPTY)

    def value(self, name: str) -> float | None:
        return self[name].value


@dataclass(frozen=True)
class Comparison:
    """The top method minus ``method`` on the ranking metric, over the seeds both have."""

    method: str
    paired: PairedComparison
    p_holm: float
    """Holm-adjusted p over every pair of trained methods (nan when the pair cannot be tested)."""
    separated: bool
    """``p_holm`` below 0.05."""


@dataclass(frozen=True)
class ControlResult:
    """``against`` minus ``arm`` on the ranking metric, and whether that is what a control expects."""

    kind: Literal["negative", "positive"]
    arm: str
    against: str
    paired: PairedComparison
    pairing: Pairing

    @property
    def separated(self) -> bool:
        return self.paired.n >= 2 and self.paired.p_value < ALPHA

    @property
    def as_expected(self) -> bool:
        """Negative: not separated. Positive: separated, with the control arm the worse one."""
        if self.kind == "negative":
            return self.paired.n >= 2 and not self.separated
        return self.separated and self.paired.difference > 0


@dataclass(frozen=True)
class Verdict:
    """Which method is best on the ranking metric, if any, and why (or why not)."""

    metric: str
    top: str | None = None
    """The trained method with the highest mean (None without any)."""
    best: str | None = None
    """``top`` when it is separated from every other trained method, else None."""
    comparisons: tuple[Comparison, ...] = ()
    """``top`` against every other trained method, in table order."""
    note: str = ""
    """The verdict in words, for the Markdown and HTML pages."""
    family: int = 0
    """Pairs in the Holm family (every testable pair of trained methods)."""


@dataclass(frozen=True)
class Leaderboard:
    """Everything a renderer needs: rows, the columns to show, the verdict, the left-out runs."""

    suite: str
    rows: tuple[Row, ...]
    columns: tuple[Metric, ...]
    """The metrics shown: every non-optional one, and the optional ones some row has."""
    verdict: Verdict
    not_ok: tuple[tuple[str, str, str], ...] = ()
    """``(run_id, status, reason)`` of every run left out, by run id."""
    non_finite: tuple[tuple[str, str], ...] = ()
    """``(run_id, metric names)`` of ok runs that stored NaN or an infinity: their cells say NaN."""
    stale: tuple[str, ...] = ()
    """Run ids of result files that belong to an earlier version of the suite."""
    other_environment: tuple[tuple[str, str], ...] = ()
    """``(run_id, what differs)`` of results made under another world or package versions than
    the base evaluation (``environment.differences``): left out, never mixed into the means."""
    plots: tuple[tuple[str, str], ...] = ()
    """``(file name, caption)`` of the plots next to the leaderboard."""
    aggregates: tuple[Aggregate, ...] = ()
    """rliable's IQM and mean over seeds x in-domain tasks per trained method, with stratified-bootstrap
    CIs; empty below :data:`~peft_rlvr_bench.reporting.stats.MIN_BOOTSTRAP_SEEDS` seeds (see
    ``aggregate_note``)."""
    aggregate_note: str = ""
    controls: tuple[ControlResult, ...] = ()
    """Each control arm against its reference (``reporting/controls.py``)."""
    tasks: Mapping[str, tuple[TaskCell, ...]] = field(default_factory=dict)
    """Per row (by method), its per-task scores (``details.task_breakdown``)."""
    links: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per row, its result files relative to the suite's results folder."""
    contended: Mapping[str, str] = field(default_factory=dict)
    """Per method whose timings are not all from an idle machine, why."""
    provenance: tuple[tuple[str, str], ...] = ()
    """``(label, text)``: commit, versions, hardware and dates of the results."""
    suite_file: str | None = None
    """The suite's YAML, relative to the suite's results folder (None when unknown)."""


class LeaderboardFiles(NamedTuple):
    markdown: Path
    csv: Path
    html: Path
