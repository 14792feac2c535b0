"""The tiny world's synthetic task families, all with verifiable integer answers.

- ``add`` (in-domain, the family RL trains on): two operands of 2-3 digits, ``"147+38="`` -> ``"185"``.
- ``add_words`` (out-of-domain): the same sums in another format, ``"sum of 147 and 38 is"``.
- ``add_any`` and ``add_any_words``: operands of 1-3 digits, for the world's SFT mixture only, so
  the base also sees easy sums (graded difficulty) without its eval sums.
- ``sub``, ``copy`` and ``max`` (forgetting): skills the base has and RL never trains; ``sub``
  shares the digit-column machinery with addition, so it is the one RL moves most.

Held-out means held out by problem, not by draw: a hash of the prompt puts each problem in the
eval partition (one in ``EVAL_PARTITION``) or the train partition, so no train item ever repeats
an eval problem, whatever the seeds. Items come from string-seeded ``random.Random`` streams,
which are stable across processes and Python versions.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from peft_rlvr_bench.tasks import Item, TaskDefaults

EVAL_POOL_SIZE = 1000
"""Eval items are the first n of a fixed pool of distinct eval-partition problems."""
EVAL_PARTITION = 5
"""One problem in this many belongs to the eval partition."""


def _operand(rng: random.Random, min_digits: int, max_digits: int) -> int:
    """A number whose digit count is uniform in [min_digits, max_digits], uniform among those numbers."""
    digits = rng.randint(min_digits, max_digits)
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return rng.randint(low, 10**digits - 1)


def _sum_items(min_digits: int, max_digits: int, words: bool) -> Callable[[random.Random], Item]:
    def make(rng: random.Random) -> Item:
        a, b = _operand(rng, min_digits, max_digits), _operand(rng, min_digits, max_digits)
        prompt = f"sum of {a} and {b} is" if words else f"{a}+{b}="
        return Item(prompt, str(a + b))

    return make


def _make_subtraction(rng: random.Random) -> Item:
    a, b = _operand(rng, 2, 3), _operand(rng, 1, 3)
    a, b = max(a, b), min(a, b)
    return Item(f"{a}-{b}=", str(a - b))


def _make_copy(rng: random.Random) -> Item:
    n = rng.randint(0, 9999)
    return Item(f"copy {n}=", str(n))


def _make_maximum(rng: random.Random) -> Item:
    a, b = rng.randint(0, 999), rng.randint(0, 999)
    return Item(f"max {a} {b}=", str(max(a, b)))


@dataclass(frozen=True)
class ArithmeticTask(TaskDefaults):
    """A task family defined by one item generator; implements the ``Task`` protocol."""

    name: str
    description: str
    make_item: Callable[[random.Random], Item] = field(repr=False)
    verifier: str = "int_match"
    max_eval_items: int = EVAL_POOL_SIZE

    def in_eval_partition(self, prompt: str) -> bool:
        digest = hashlib.sha256(f"{self.name}:{prompt}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % EVAL_PARTITION == 0

    @cached_property
    def _eval_pool(self) -> list[Item]:
        rng = random.Random(f"{self.name}:eval")
        pool: dict[str, Item] = {}
        while len(pool) < EVAL_POOL_SIZE:
            item = self.make_item(rng)
            if self.in_eval_partition(item.prompt):
                pool.setdefault(item.prompt, item)
        return list(pool.values())

    def items(self, split: str, n: int, seed: int) -> list[Item]:
        if split == "eval":
            if n > self.max_eval_items:
                raise ValueError(f"task {self.name!r} has {self.max_eval_items} eval items; asked for {n}")
            return self._eval_pool[:n]
        if split != "train":
            raise ValueError(f"split must be 'train' or 'eval', not {split!r}")
        rng = random.Random(f"{self.name}:train:{seed}")
        out: list[Item] = []
        while len(out) < n:
            item = self.make_item(rng)
            if not self.in_eval_partition(item.prompt):
                out.append(item)
        return out


ADDITION = ArithmeticTask("add", "a+b, operands of 2-3 digits (in-domain)", _sum_items(2, 3, words=False))
ADDITION_IN_WORDS = ArithmeticTask(
    "add_words", "the same sums phrased in words (out-of-domain)", _sum_items(2, 3, words=True)
)
ADDITION_ANY = ArithmeticTask(
    "add_any", "a+b, operands of 1-3 digits (SFT only)", _sum_items(1, 3, words=False)
)
ADDITION_ANY_IN_WORDS = ArithmeticTask(
    "add_any_words", "a+b in words, operands of 1-3 digits (SFT only)", _sum_items(1, 3, words=True)
)
SUBTRACTION = ArithmeticTask("sub", "a-b, a of 2-3 digits, 0 <= b <= a (forgetting)", _make_subtraction)
COPY = ArithmeticTask("copy", "repeat a number in 0..9999 (forgetting)", _make_copy)
MAXIMUM = ArithmeticTask("max", "the larger of two numbers in 0..999 (forgetting)", _make_maximum)
