"""Tasks: deterministic generators of (prompt, answer) items, each scored by a named verifier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from peft_rlvr_bench.tasks.data import DataSpec


@dataclass(frozen=True)
class Item:
    prompt: str
    answer: str


class Task(Protocol):
    """A task family. ``eval`` items are fixed by the task; ``train`` items by the run seed.

    Every member is required; ``TaskDefaults`` gives the usual values to a task that has both
    splits, no stop strings of its own and no dataset behind it.
    """

    name: str
    verifier: str
    description: str

    @property
    def max_eval_items(self) -> int:
        """Items in the eval split."""
        ...

    @property
    def splits(self) -> Sequence[str]:
        """The splits the task has: ``train``, ``eval`` or both."""
        ...

    @property
    def stop(self) -> tuple[str, ...] | None:
        """Strings that end a completion (a prompt template's end marker); None: the evaluation
        template's defaults (a newline or EOS)."""
        ...

    @property
    def from_datasets(self) -> bool:
        """Whether the task reads Hugging Face datasets (a suite's ``data.sources`` may redirect it)."""
        ...

    def items(self, split: str, n: int, seed: int) -> list[Item]:
        """``n`` items of ``split`` ("train" or "eval"); train never repeats an eval prompt."""
        ...

    def with_data(self, data: DataSpec) -> Task:
        """The task reading under a suite's ``data`` settings (template, sources)."""
        ...


class TaskDefaults:
    """The usual optional members: both splits, no stop strings, no dataset, no data settings."""

    splits: ClassVar[tuple[str, ...]] = ("train", "eval")
    stop: ClassVar[tuple[str, ...] | None] = None
    from_datasets: ClassVar[bool] = False

    def with_data(self, data: DataSpec) -> TaskDefaults:
        return self
