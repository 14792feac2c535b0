"""Verifier faults: an exception or a timeout in a verifier scores 0 for that sample and is counted.

A verifier is code that parses model output (a plugin's, a math parser's): one pathological
completion must neither kill a run nor hang it. ``guarded_verifier`` runs any registered verifier
in a worker thread with a timeout, from any thread (the caller waits on a future; a verifier that
never returns strands its daemon worker, never the caller or the process's exit).
``guarded_batch_verifier`` does the same for a batch (a GRPO reward call) in one worker round trip,
each completion keeping its own timeout: a round trip per completion cost 3.7 ms per 32-completion
update on the tiny world, more than the verifier itself. A result that
is not a finite number counts as an exception: a NaN reward would poison a whole GRPO group.

Counts go to the innermost active ``counting_faults()`` block; the runner opens one per run and
writes it to the result as ``verifier_faults``, for the RL reward and the evaluation's scoring.
``$PRB_VERIFIER_TIMEOUT_S`` sets the timeout (default 10 seconds per call).
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUT_S = 10.0
TIMEOUT_ENV = "PRB_VERIFIER_TIMEOUT_S"


@dataclass
class FaultCounter:
    """Verifier calls, and those that raised or timed out (each scored 0)."""

    calls: int = 0
    exceptions: int = 0
    timeouts: int = 0
    first_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, outcome: str, error: str | None = None) -> None:
        with self._lock:
            self.calls += 1
            if outcome == "exception":
                self.exceptions += 1
            elif outcome == "timeout":
                self.timeouts += 1
            if error is not None and self.first_error is None:
                self.first_error = error[:300]

    def add(self, counts: dict[str, Any]) -> None:
        """Adds counts saved earlier (a resumed run's, from its trainer checkpoint)."""
        with self._lock:
            self.calls += int(counts.get("calls", 0))
            self.exceptions += int(counts.get("exceptions", 0))
            self.timeouts += int(counts.get("timeouts", 0))
            self.first_error = self.first_error or counts.get("first_error")

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": self.calls,
                "exceptions": self.exceptions,
                "timeouts": self.timeouts,
                "first_error": self.first_error,
            }


_active: list[FaultCounter] = []


@contextmanager
def counting_faults() -> Iterator[FaultCounter]:
    """Counts the verifier calls and faults of the block (nested blocks count only their own)."""
    counter = FaultCounter()
    _active.append(counter)
    try:
        yield counter
    finally:
        _active.remove(counter)


def active_counter() -> FaultCounter | None:
    return _active[-1] if _active else None


class _DaemonPool:
    """Worker threads that never block interpreter exit; a new one starts whenever none is idle,
    so a verifier stuck forever costs one thread, not the pool."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self._idle = 0
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._idle:
                self._idle -= 1
            else:
                threading.Thread(target=self._work, name="prb-verifier", daemon=True).start()
        self._jobs.put((future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            future, fn, args = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # handed to the caller, which decides
                    future.set_exception(exc)
            with self._lock:
                self._idle += 1


_POOL = _DaemonPool()


def call_with_timeout(fn: Callable[..., Any], *args: Any, timeout: float) -> Any:
    """``fn(*args)`` in a worker thread; raises ``TimeoutError`` after ``timeout`` seconds."""
    try:
        return _POOL.submit(fn, *args).result(timeout=timeout)
    except FutureTimeout:
        raise TimeoutError(f"{getattr(fn, '__name__', fn)} took longer than {timeout:g} s") from None


def verifier_timeout() -> float:
    return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))


def guarded_verifier(name: str, timeout: float | None = None) -> Callable[[str, str], float]:
    """The registered verifier ``name``, scoring 0 (and counting) wherever it raises, times out
    or returns something other than a finite number."""
    batch = guarded_batch_verifier(name, timeout)

    def guarded(completion: str, answer: str) -> float:
        return batch([completion], [answer])[0]

    guarded.__name__ = name
    return guarded


def guarded_batch_verifier(
    name: str, timeout: float | None = None
) -> Callable[[Sequence[str], Sequence[str]], list[float]]:
    """``guarded_verifier`` over a batch: one worker-thread round trip per call instead of one per
    completion (a GRPO reward call scores every completion of an update at once), with the same
    per-completion semantics: each completion has ``timeout`` seconds of its own, and a fault
    (exception, timeout, non-finite score) scores that completion 0 and is counted."""
    from peft_rlvr_bench.registry import VERIFIERS

    verifier = VERIFIERS.get(name)
    limit = verifier_timeout() if timeout is None else timeout

    def guarded(completions: Sequence[str], answers: Sequence[str]) -> list[float]:
        if len(completions) != len(answers):
            raise ValueError(f"{len(completions)} completions for {len(answers)} answers")
        counter = active_counter() or FaultCounter()
        outcomes = _score_batch(verifier, list(zip(completions, answers, strict=True)), limit)
        scores = []
        for outcome, value in outcomes:
            if outcome == "ok":
                counter.record("ok")
                scores.append(value)
            else:
                counter.record(outcome, f"{name}: {value}")
                scores.append(0.0)
        return scores

    guarded.__name__ = name
    return guarded


class _Batch:
    """One batch's progress, shared by the worker that scores it and the caller that waits.

    The worker notes which item it is on and when it began it; the caller sleeps until the batch
    is done or the current item's deadline passes, so a fast batch costs one wake-up in all. An
    item past its deadline abandons the batch: the worker stops before its next item (its late
    result is dropped) and the caller hands the rest to a fresh worker."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items
        self.outcomes: list[tuple[str, Any]] = []
        self.started = time.monotonic()  # of the item now being scored (index len(outcomes))
        self.abandoned = False
        self.finished = False
        """The worker has returned (or raised something that is not a verifier fault)."""
        self.done = threading.Condition()

    def run(self, verifier: Callable[[str, str], Any]) -> None:
        try:
            with self.done:
                if self.abandoned:
                    return
                self.started = time.monotonic()
            for completion, answer in self.items:
                outcome = _score_one(verifier, completion, answer)
                with self.done:
                    if self.abandoned:
                        return
                    self.outcomes.append(outcome)
                    # Set with the outcome, under the lock: the caller never sees a finished item's
                    # start as the next item's.
                    self.started = time.monotonic()
        finally:
            with self.done:
                self.finished = True
                self.done.notify()


def _score_one(verifier: Callable[[str, str], Any], completion: str, answer: str) -> tuple[str, Any]:
    try:
        score = float(verifier(completion, answer))
        if not math.isfinite(score):
            raise ValueError(f"returned {score}, not a finite score")
    except Exception as exc:  # a KeyboardInterrupt or SystemExit is not a verifier fault
        return "exception", f"{type(exc).__name__}: {exc}"
    return "ok", score


def _score_batch(
    verifier: Callable[[str, str], Any], items: list[tuple[str, str]], limit: float
) -> list[tuple[str, Any]]:
    """``(outcome, score or error)`` per item, in order; each item gets ``limit`` seconds."""
    outcomes: list[tuple[str, Any]] = []
    while items:
        batch = _Batch(items)
        future = _POOL.submit(batch.run, verifier)
        with batch.done:
            while len(batch.outcomes) < len(items) and not batch.finished:
                wait = batch.started + limit - time.monotonic()
                if wait <= 0:
                    batch.abandoned = True
                    break
                # Woken by the batch's end; otherwise it re-checks at the current item's deadline.
                batch.done.wait(wait)
            outcomes += batch.outcomes
        if not batch.abandoned:
            if len(batch.outcomes) < len(items):
                future.result()  # re-raises what stopped the worker (a KeyboardInterrupt, say)
            return outcomes
        outcomes.append(("timeout", f"{_name(verifier)} took longer than {limit:g} s"))
        items = items[len(batch.outcomes) + 1 :]
    return outcomes


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", repr(fn))
