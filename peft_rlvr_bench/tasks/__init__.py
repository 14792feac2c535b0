"""Tasks: deterministic generators of (prompt, answer) items, each scored by a named verifier."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Item:
    prompt: str
    answer: str


class Task(Protocol):
    """A task family. ``eval`` items are fixed by the task; ``train`` items by the run seed."""

    name: str
    verifier: str
    description: str
    max_eval_items: int

    def items(self, split: str, n: int, seed: int) -> list[Item]:
        """``n`` items of ``split`` ("train" or "eval"); train never repeats an eval prompt."""
        ...
